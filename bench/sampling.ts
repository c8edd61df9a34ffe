// The bench's view of running workers: their metrics summed once a second (committed rows, WAL backlog, RSS,
// CPU, the receive → commit histogram) while a load phase runs.

import { WORKER_METRICS, WORKER_PROCESS_METRICS } from '../api/contract.ts';
import type { WorkerProcess } from '../test/lib/worker-process.ts';

export interface Sample {
  t: number;
  committed: number;
  backlog: number;
  rss: number;
  cpu: number;
  buckets: Map<number, number>;
}

const latencyBucket = new RegExp(`^${WORKER_METRICS.receiveToCommit}_bucket\\{le="([^"]+)"\\}$`);

export async function sample(workers: WorkerProcess[], t: number): Promise<Sample> {
  const s: Sample = { t, committed: 0, backlog: 0, rss: 0, cpu: 0, buckets: new Map() };
  for (const w of workers) {
    const m = await w.metrics();
    s.committed += (m.get(WORKER_METRICS.flushedRows) ?? 0) + sumPrefix(m, WORKER_METRICS.unparseable);
    s.backlog += m.get(WORKER_METRICS.walMessages) ?? 0;
    s.rss = Math.max(s.rss, m.get(WORKER_PROCESS_METRICS.residentMemory) ?? 0);
    s.cpu += m.get(WORKER_PROCESS_METRICS.cpuSeconds) ?? 0;
    for (const [k, v] of m) {
      const b = latencyBucket.exec(k);
      if (b) {
        const le = b[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(b[1]);
        s.buckets.set(le, (s.buckets.get(le) ?? 0) + v);
      }
    }
  }
  return s;
}

const sumPrefix = (m: Map<string, number>, prefix: string) => {
  let n = 0;
  for (const [k, v] of m) if (k.startsWith(prefix)) n += v;
  return n;
};

/** Samples every `everyMs` (a second by default) while `during` runs; prints a progress line. */
export async function watch<T>(
  label: string,
  workers: WorkerProcess[],
  during: Promise<T>,
  until?: (s: Sample) => boolean,
  everyMs = 1000,
) {
  const samples: Sample[] = [];
  const start = Date.now();
  let done = false;
  let result: T | undefined;
  during.then((r) => {
    result = r;
    done = true;
  });
  for (;;) {
    const s = await sample(workers, (Date.now() - start) / 1000);
    samples.push(s);
    const prev = samples[samples.length - 2];
    const rate = prev ? Math.round((s.committed - prev.committed) / Math.max(0.001, s.t - prev.t)) : 0;
    process.stderr.write(
      `\r  ${label}: ${s.t.toFixed(0)}s committed ${s.committed} (${rate}/s) backlog ${s.backlog} rss ${Math.round(s.rss / 2 ** 20)}MiB   `,
    );
    if (done && (!until || until(s))) break;
    if (Date.now() - start > 30 * 60_000) throw new Error(`${label} did not finish within 30 minutes`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  process.stderr.write('\n');
  return { samples, result: result as T };
}

export const committedRate = (a: Sample, b: Sample) =>
  Math.round((b.committed - a.committed) / Math.max(0.001, b.t - a.t));
