// How the tour prints: headed sections that say what the user sees and why it matters, commands echoed as a
// user would type them, their output indented under them.

import { spawn } from 'node:child_process';
import { REPO_ROOT, requireEnv } from '../../test/lib/env.ts';

const indent = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `   ${l}`)
    .join('\n');

/** A section of the tour: its title, then why it matters (one or two short lines). */
export function section(title: string, why: string): void {
  console.log(`\n== ${title}`);
  console.log(indent(why));
}

export function note(text: string): void {
  console.log(indent(text));
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and returns its output (printing nothing). */
export function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: REPO_ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** `kubectl ARGS` against the environment's API server (KUBECONFIG), echoed as `$ kubectl ...` with its output. */
export async function kubectl(args: string[], o: { quiet?: boolean } = {}): Promise<Run> {
  const r = await run(process.env.KUBECTL || 'kubectl', args, { KUBECONFIG: requireEnv('KUBECONFIG') });
  if (!o.quiet) {
    console.log(`\n $ kubectl ${args.join(' ')}`);
    if (r.stdout.trim()) console.log(indent(r.stdout));
  }
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r;
}

async function psqlRun(sql: string, format: string[]): Promise<string> {
  const bin = process.env.PG_BIN ? `${process.env.PG_BIN}/psql` : 'psql';
  const r = await run(bin, [requireEnv('DATABASE_URL'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', ...format, '-c', sql]);
  if (r.code !== 0) throw new Error(`psql failed: ${r.stderr.trim()}\n${sql}`);
  return r.stdout;
}

/** psql against DATABASE_URL, echoed with the query's table. */
export async function psql(sql: string): Promise<string> {
  const out = await psqlRun(sql, []);
  console.log(`\n $ psql -c "${sql.replace(/\s+/g, ' ').trim()}"`);
  console.log(indent(out));
  return out;
}

/** The single value a query returns (printing nothing). */
export async function psqlValue(sql: string): Promise<string> {
  return (await psqlRun(sql, ['-A', '-t'])).trim();
}

/**
 * `kubectl get ARGS -w`, its lines printed as they come, until `until` settles (a little later, so the watch
 * prints the change that settled it); then the watch is stopped. A rejected `until` stops it too.
 */
export async function watchWhile(args: string[], until: Promise<unknown>): Promise<void> {
  console.log(`\n $ kubectl ${args.join(' ')}`);
  const child = spawn(process.env.KUBECTL || 'kubectl', args, {
    cwd: REPO_ROOT,
    env: { ...process.env, KUBECONFIG: requireEnv('KUBECONFIG') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let partial = '';
  child.stdout.on('data', (c: Buffer) => {
    partial += c.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) console.log(`   ${l}`);
  });
  try {
    await until;
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    child.kill();
  }
}
