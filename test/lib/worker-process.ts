// Runs `mqtt2pg worker` as a real child process against the test environment, with a pipeline of its
// own (own tables, own shared-subscription group, own topic path) so suites never see each other's data.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump, load } from 'js-yaml';
import type { IngestPipeline, RouteSpec } from '../../api/types.ts';
import { type CommandResult, command, REPO_ROOT } from './env.ts';
import { eventually } from './eventually.ts';
import { seriesValues } from './metrics-text.ts';
import {
  type EnvPipelineOptions,
  envPipeline,
  envSecrets,
  overlay,
  type PipelineTarget,
  type SpecOverrides,
} from './pipelines.ts';

/** An envPipeline() written where a worker process reads it: its file, a secrets dir and a WAL dir. */
export interface TestPipeline extends PipelineTarget {
  file: string;
  dir: string;
  secretsDir: string;
  walDir: string;
}

const dirs: string[] = [];
const running = new Set<ChildProcess>();

/** After a suite: kill workers a failed test left running (they would keep the runner alive), drop temp dirs. */
export function cleanupDirs() {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Writes Secrets (name to key to value, not base64) into `secretsDir` as mounted Secrets are: DIR/<secret>/<key>. */
export function writeSecrets(secretsDir: string, secrets: Record<string, Record<string, string>>): void {
  for (const [secret, data] of Object.entries(secrets)) {
    mkdirSync(join(secretsDir, secret), { recursive: true });
    for (const [k, v] of Object.entries(data)) writeFileSync(join(secretsDir, secret, k), v);
  }
}

export function makePipeline(o: EnvPipelineOptions = {}): TestPipeline {
  const { doc, ...target } = envPipeline(o);
  const dir = mkdtempSync(join(tmpdir(), `mqtt2pg-${target.name}-`));
  dirs.push(dir);
  // Laid out like mounted Secrets: DIR/<secret>/<key>.
  const secretsDir = join(dir, 'secrets');
  writeSecrets(secretsDir, envSecrets());
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, dump(doc));
  return { ...target, file, dir, secretsDir, walDir: join(dir, 'wal') };
}

/** Lays `spec` (and a namespace) over the pipeline file, for the worker started next. */
export function rewritePipeline(p: TestPipeline, o: { spec?: SpecOverrides; namespace?: string }): void {
  const doc = load(readFileSync(p.file, 'utf8')) as IngestPipeline;
  const next = overlay(doc, { spec: o.spec ?? {}, ...(o.namespace ? { metadata: { namespace: o.namespace } } : {}) });
  writeFileSync(p.file, dump(next));
}

/**
 * A pipeline with `spec.routes` instead of the device contract's filter (docs/routes.md). `routes` gets the
 * pipeline, whose `path` makes a first topic level and `table` a table prefix no other suite uses.
 */
export function makeRoutePipeline(routes: (p: TestPipeline) => RouteSpec[], o: EnvPipelineOptions = {}): TestPipeline {
  const p = makePipeline(o);
  rewritePipeline(p, { spec: { source: { topicFilter: undefined }, routes: routes(p) } });
  return p;
}

/** A one-shot command on the pipeline's files (`mqtt2pg drain`, `migrate`, `replay`, `validate`), its WAL dir for drain. */
export function pipelineCommand(
  p: TestPipeline,
  name: 'drain' | 'migrate' | 'replay' | 'validate',
  ...args: string[]
): Promise<CommandResult> {
  const wal = name === 'drain' ? ['--wal-dir', p.walDir] : [];
  return command(process.execPath, ['cli/main.ts', name, '-f', p.file, '--secrets-dir', p.secretsDir, ...wal, ...args]);
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class WorkerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  output = '';
  metricsPort = 0;
  healthPort = 0;

  private constructor(child: ChildProcess) {
    this.child = child;
    const onData = (b: Buffer) => {
      this.output += b.toString();
      const m = /"metricsPort":(\d+),"healthPort":(\d+)/.exec(this.output);
      if (m && !this.metricsPort) {
        this.metricsPort = Number(m[1]);
        this.healthPort = Number(m[2]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    running.add(child);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      }),
    );
  }

  static start(
    p: TestPipeline,
    opts: { instance?: string; args?: string[]; env?: Record<string, string>; entry?: string } = {},
  ): WorkerProcess {
    const child = spawn(
      process.execPath,
      [
        // The TypeScript source; the bench runs the compiled dist/cli/main.js, as a pod does.
        opts.entry ?? 'cli/main.ts',
        'worker',
        '-f',
        p.file,
        '--secrets-dir',
        p.secretsDir,
        '--wal-dir',
        p.walDir,
        '--metrics-port',
        '0',
        '--health-port',
        '0',
        '--listen-host',
        '127.0.0.1',
        '--instance',
        opts.instance ?? p.name,
        ...(opts.args ?? []),
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } },
    );
    return new WorkerProcess(child);
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    await eventually(
      async () => {
        if (this.child.exitCode !== null) throw new Error(`worker exited with ${this.child.exitCode}:\n${this.output}`);
        if (!this.healthPort) throw new Error('not listening yet');
        const r = await fetch(`http://127.0.0.1:${this.healthPort}/readyz`);
        if (r.status !== 200) throw new Error(await r.text());
      },
      { timeoutMs, what: 'worker ready' },
    );
  }

  /** Unlabelled and labelled samples of /metrics, keyed by series name as printed. */
  async metrics(): Promise<Map<string, number>> {
    return seriesValues(await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text());
  }

  async metric(name: string): Promise<number> {
    return (await this.metrics()).get(name) ?? 0;
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
