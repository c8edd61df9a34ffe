// The sustained end-to-end rate of running workers, shared by the bench's parts (bench/run.ts for the plain
// route, bench/route-rate.ts for a typed one): a flat-out probe, then a short ladder around it that keeps the
// highest offered rate whose backlog stays flat.

import { type TestPipeline, WorkerProcess } from '../test/lib/worker-process.ts';
import type { LoadgenSummary } from '../worker/loadgen.ts';
import { committedRate, type Sample, watch } from './sampling.ts';

/** Publishes run `runId`: `rate` messages/s (0 = flat out) for a count or a duration. */
export type Offer = (
  runId: string,
  rate: number,
  o: { count: number } | { durationMs: number },
) => Promise<LoadgenSummary>;

export interface Sustained {
  samples: Sample[];
  rate: number;
  held: boolean;
  published: number;
}

/** How the bench runs workers: the pod's NODE_OPTIONS and the compiled CLI (bench/run.ts sets both). */
export interface WorkerRun {
  env?: Record<string, string>;
  /** The CLI the workers run (default the TypeScript source). */
  entry?: string;
}

export async function startWorkers(p: TestPipeline, n: number, run: WorkerRun = {}) {
  const ws = Array.from({ length: n }, (_, i) =>
    WorkerProcess.start(n === 1 ? p : { ...p, walDir: `${p.walDir}-${i}` }, {
      instance: `${p.name}-${i}`,
      ...(run.env ? { env: run.env } : {}),
      ...(run.entry ? { entry: run.entry } : {}),
    }),
  );
  await Promise.all(ws.map((w) => w.waitReady()));
  return ws;
}

export async function stopWorkers(ws: WorkerProcess[]) {
  for (const w of ws) w.kill('SIGTERM');
  await Promise.all(ws.map((w) => w.exited));
}

/** Publishes `count` messages flat out; the rate the workers committed them at. */
export async function probe(workers: WorkerProcess[], offer: Offer, count: number, label = 'probe') {
  const r = await watch(label, workers, offer(label, 0, { count }), (s) => s.backlog === 0 && s.committed >= count);
  return { rate: committedRate(r.samples[0] as Sample, r.samples.at(-1) as Sample), published: r.result.rate };
}

/**
 * A short ladder around `start`: up 10% while the rate holds (never above `ceiling`, the broker's own limit),
 * down 15% while it does not; the highest rate held is the result. Runs are named `${tag}${attempt}`.
 */
export async function ladder(
  workers: WorkerProcess[],
  offer: Offer,
  o: { start: number; ceiling: number; seconds: number; attempts: number; tag: string; say: (m: string) => void },
): Promise<Sustained> {
  let rate = o.start;
  let sustained: Sustained | undefined;
  let failedAt = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < o.attempts; attempt++) {
    o.say(`sustained: ${rate} msg/s for ${o.seconds}s`);
    const r = await watch('sustained', workers, offer(`${o.tag}${attempt}`, rate, { durationMs: o.seconds * 1000 }));
    const last = r.samples.at(-1) as Sample;
    const mid = r.samples[Math.floor(r.samples.length / 2)] as Sample;
    // Held: the backlog at the end is under a second of traffic and no larger than half-way through.
    const held = last.backlog <= Math.max(rate, 5000) && last.backlog <= mid.backlog + rate * 0.5;
    await watch('settle', workers, Promise.resolve(), (s) => s.backlog === 0);
    if (held) {
      sustained = { samples: r.samples, rate, held, published: r.result.rate };
      const next = Math.round(rate * 1.1);
      // A publisher that could not reach the offered rate is the limit now: climbing further measures it.
      if (next > o.ceiling || next >= failedAt || r.result.rate < rate * 0.95) break;
      o.say('  held: trying 10% higher');
      rate = next;
    } else {
      failedAt = rate;
      if (sustained?.held) break;
      sustained = { samples: r.samples, rate, held, published: r.result.rate };
      o.say(`  backlog grew to ${last.backlog}: trying 15% lower`);
      rate = Math.round(rate * 0.85);
    }
  }
  return sustained as Sustained;
}

/** The committed rate over a sustained run, its first second left out (the workers' ramp). */
export function sustainedCommitRate(s: Sustained) {
  const first = s.samples[1] ?? (s.samples[0] as Sample);
  return committedRate(first, s.samples.at(-1) as Sample);
}
