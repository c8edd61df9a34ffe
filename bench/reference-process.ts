// One mqtt2db-go process as the bench drives it: start with a config, stop with a signal (SIGKILL included,
// with restarts that keep its counters monotonic), wait for readiness, and sample its metrics, CPU and RSS.

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { seriesValues } from '../test/lib/metrics-text.ts';
import type { LoadgenProgress } from '../worker/loadgen.ts';

export interface Sample {
  t: number;
  inserted: number;
  ringDepth: number;
  walBacklog: number;
  cpu: number;
  rss: number;
  published: number;
  flushBuckets: Map<number, number>;
}

const CLK_TCK = 100;

export class Reference {
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  progress: LoadgenProgress = { sent: 0, acked: 0, errors: 0, elapsedMs: 0 };
  private t0 = Date.now();
  // Counters restart with the process: the offset keeps `inserted` monotonic across kill -9 restarts (the WAL
  // backlog, appended − drained, is only meaningful within one process).
  private insertedOffset = 0;
  private lastInserted = 0;

  readonly bin: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly metricsPort: number;
  readonly healthPort: number;

  constructor(bin: string, configPath: string, logPath: string, metricsPort: number, healthPort: number) {
    this.bin = bin;
    this.configPath = configPath;
    this.logPath = logPath;
    this.metricsPort = metricsPort;
    this.healthPort = healthPort;
  }

  start() {
    this.insertedOffset += this.lastInserted;
    this.lastInserted = 0;
    const log = openSync(this.logPath, 'a');
    const child = spawn(this.bin, ['--config', this.configPath], {
      stdio: ['ignore', log, log],
      env: { ...process.env, HOSTNAME: 'bench' },
    });
    closeSync(log);
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
  }

  async kill(signal: NodeJS.Signals) {
    this.child?.kill(signal);
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 40_000));
    if ((await Promise.race([this.exited, timeout])) === 'timeout') {
      this.child?.kill('SIGKILL');
      await this.exited;
    }
  }

  async metrics(): Promise<Map<string, number>> {
    return seriesValues(await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text());
  }

  async waitReady(timeoutMs = 60_000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        const ready = await fetch(`http://127.0.0.1:${this.healthPort}/readyz`);
        if (ready.ok && (await this.metrics()).get('mqtt2db_subscriber_connected') === 1) {
          await sleep(500); // its SUBSCRIBE goes out right after the connected gauge flips
          return;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > until)
        throw new Error(`mqtt2db-go not ready within ${timeoutMs / 1000}s: ${tail(this.logPath)}`);
      await sleep(200);
    }
  }

  async sample(): Promise<Sample> {
    const m = await this.metrics();
    this.lastInserted = m.get('mqtt2db_flusher_inserted_total') ?? 0;
    const pid = this.child?.pid;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime + stime (fields 14 and 15)
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    const flushBuckets = new Map<number, number>();
    for (const [k, v] of m) {
      const b = /^mqtt2db_flusher_flush_latency_seconds_bucket\{le="([^"]+)"\}$/.exec(k);
      if (b) flushBuckets.set(b[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(b[1]), v);
    }
    return {
      t: (Date.now() - this.t0) / 1000,
      inserted: this.insertedOffset + this.lastInserted,
      ringDepth: m.get('mqtt2db_buffer_depth_messages') ?? 0,
      walBacklog: (m.get('mqtt2db_wal_appended_total') ?? 0) - (m.get('mqtt2db_wal_drained_total') ?? 0),
      cpu,
      rss: rssKb * 1024,
      published: this.progress.acked,
      flushBuckets,
    };
  }
}

export function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-3).join(' | ').slice(0, 600);
  } catch {
    return '';
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
