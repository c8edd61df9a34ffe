// Runs `mqtt2pg worker` as a real child process against the test environment, with a pipeline of its
// own (own tables, own shared-subscription group, own topic path) so suites never see each other's data.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { REPO_ROOT, requireEnv } from './env.ts';
import { eventually } from './eventually.ts';
import { seriesValues } from './metrics-text.ts';

export interface TestPipeline {
  name: string;
  /** Topic level after evt/ that only this pipeline subscribes to. */
  path: string;
  table: string;
  unparseableTable: string;
  dlqPrefix: string;
  file: string;
  dir: string;
  secretsDir: string;
  walDir: string;
}

export interface PipelineOptions {
  /** Merged into spec (shallow per section). */
  spec?: Record<string, Record<string, unknown> | unknown>;
  topicFilter?: string;
  dlq?: boolean;
  namespace?: string;
}

const dirs: string[] = [];
const running = new Set<ChildProcess>();

/** After a suite: kill workers a failed test left running (they would keep the runner alive), drop temp dirs. */
export function cleanupDirs() {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function makePipeline(o: PipelineOptions = {}): TestPipeline {
  const id = randomBytes(4).toString('hex');
  const name = `it-${id}`;
  const dir = mkdtempSync(join(tmpdir(), `mqtt2pg-${name}-`));
  dirs.push(dir);
  const secretsDir = join(dir, 'secrets');
  const secret = (s: string, kv: Record<string, string>) => {
    mkdirSync(join(secretsDir, s), { recursive: true });
    for (const [k, v] of Object.entries(kv)) writeFileSync(join(secretsDir, s, k), v);
  };
  const pgUrl = new URL(requireEnv('PGBOUNCER_URL'));
  secret('pg', { username: decodeURIComponent(pgUrl.username), password: decodeURIComponent(pgUrl.password) });
  secret('mqtt', { username: requireEnv('MQTT_USERNAME'), password: requireEnv('MQTT_PASSWORD') });
  secret('s3', { accessKeyId: requireEnv('S3_ACCESS_KEY_ID'), secretAccessKey: requireEnv('S3_SECRET_ACCESS_KEY') });
  const path = `p${id}`;
  const spec = o.spec ?? {};
  const section = (k: string) => (spec[k] ?? {}) as Record<string, unknown>;
  const pipeline = {
    apiVersion: 'mqtt2pg.io/v1alpha1',
    kind: 'IngestPipeline',
    metadata: { name, namespace: o.namespace ?? 'default' },
    spec: {
      ...spec,
      source: {
        brokers: [requireEnv('MQTT_URL')],
        topicFilter: o.topicFilter ?? `t/+/d/+/evt/${path}/#`,
        sessionExpiry: '5m',
        auth: { secretRef: { name: 'mqtt' } },
        ...section('source'),
      },
      sink: {
        postgres: {
          host: pgUrl.hostname,
          port: Number(pgUrl.port),
          database: pgUrl.pathname.slice(1),
          credentialsSecretRef: { name: 'pg' },
        },
        pgbouncer: { enabled: false },
        table: `t_${id}`,
        unparseableTable: `u_${id}`,
        ...section('sink'),
      },
      flusher: { flushInterval: '50ms', ...section('flusher') },
      ...(o.dlq === false
        ? {}
        : {
            deadLetter: {
              s3: {
                bucket: requireEnv('S3_BUCKET'),
                endpoint: requireEnv('S3_ENDPOINT'),
                region: requireEnv('S3_REGION'),
                forcePathStyle: true,
                prefix: 'it/',
                credentialsSecretRef: { name: 's3' },
              },
            },
          }),
    },
  };
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, dump(pipeline));
  return {
    name,
    path,
    table: `t_${id}`,
    unparseableTable: `u_${id}`,
    dlqPrefix: `it/${name}/`,
    file,
    dir,
    secretsDir,
    walDir: join(dir, 'wal'),
  };
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
    opts: { instance?: string; args?: string[]; env?: Record<string, string> } = {},
  ): WorkerProcess {
    const child = spawn(
      process.execPath,
      [
        'cli/main.ts',
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
