// What the integration suites read from the test environment (.test-env/env, exported by
// scripts/run-tests.sh). A missing variable fails the suite with the command that fixes it.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eventually } from './eventually.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(
      `${name} is not set: start the services with 'make test-env' and run the suite through 'make test'`,
    );
  return v;
}

const run = promisify(execFile);

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command, never throwing on a non-zero exit: tests assert on the result. */
export async function command(file: string, args: string[], input?: string): Promise<CommandResult> {
  const child = run(file, args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** The environment's kubectl: KUBECTL names the one test/env/up.sh built when none was on PATH. */
export const kubectl = (args: string[], input?: string) =>
  command(process.env.KUBECTL || 'kubectl', ['--kubeconfig', requireEnv('KUBECONFIG'), ...args], input);

/** Installs the IngestPipeline CRD by server-side apply (idempotent) and waits until it is Established. */
export async function ensureCrd(): Promise<void> {
  const applied = await kubectl([
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    'crds/ingestpipelines.mqtt2pg.io.yaml',
  ]);
  if (applied.code !== 0) throw new Error(`installing the CRD failed: ${applied.stderr}`);
  // Not `kubectl wait`: on a CRD created a moment ago it fails at once while .status.conditions is still unset.
  await eventually(
    async () => {
      const r = await kubectl([
        'get',
        'crd/ingestpipelines.mqtt2pg.io',
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Established")].status}',
      ]);
      if (r.code !== 0 || r.stdout.trim() !== 'True')
        throw new Error(r.stderr.trim() || `Established: ${r.stdout || 'unset'}`);
    },
    { timeoutMs: 60_000, what: 'the IngestPipeline CRD Established' },
  );
}
