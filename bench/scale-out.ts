// Scale-out (issue 17, goal 6): 1, 2 and 3 worker processes on one shared subscription, each time 300k
// messages flat out; the committed rate, and the CPU per message of the workers, the broker and PostgreSQL
// (all of their processes), so a projection beyond this machine rests on measured constants.
//   set -a; . .test-env/env; set +a; node bench/scale-out.ts

import { DEFAULT_WORKER_RESOURCES } from '../operator/render/worker.ts';
import { memoryEnvRecord } from '../operator/render/worker-memory.ts';
import { publish } from '../test/lib/publish.ts';
import { cleanupDirs, makePipeline } from '../test/lib/worker-process.ts';
import { tierCpuSeconds } from './proc-stats.ts';
import type { ScaleOutRow } from './report.ts';
import { committedRate, type Sample, watch } from './sampling.ts';
import { startWorkers } from './sustain.ts';

const COUNT = 300_000;

export async function scaleOut(o: {
  say: (m: string) => void;
  env: Record<string, string>;
  /** The CLI the workers run (default the TypeScript source). */
  entry?: string;
}): Promise<ScaleOutRow[]> {
  const rows: ScaleOutRow[] = [];
  for (const n of [1, 2, 3]) {
    const p = makePipeline({ spec: { flusher: { retry: { initialBackoff: '50ms', maxBackoff: '1s' } } } });
    const workers = await startWorkers(p, n, { env: o.env, ...(o.entry ? { entry: o.entry } : {}) });
    o.say(`scale-out: ${n} worker process${n > 1 ? 'es' : ''}, ${COUNT} messages`);
    const broker0 = tierCpuSeconds('mosquitto');
    const pg0 = tierCpuSeconds('postgres');
    const load = publish(p.path, `so${n}`, {
      rate: 0,
      count: COUNT,
      devices: 200,
      tenants: 10,
      payloadBytes: 200,
      inflight: 1000,
    });
    const r = await watch(`${n} workers`, workers, load, (s) => s.backlog === 0 && s.committed >= COUNT);
    const [a, b] = [r.samples[0] as Sample, r.samples.at(-1) as Sample];
    const msgs = Math.max(1, b.committed - a.committed);
    const usPerMsg = (cpuSeconds: number) => Math.round((cpuSeconds / msgs) * 1e8) / 100;
    rows.push({
      workers: n,
      rate: committedRate(a, b),
      workerCpuUsPerMsg: usPerMsg(b.cpu - a.cpu),
      brokerCpuUsPerMsg: usPerMsg(tierCpuSeconds('mosquitto') - broker0),
      postgresCpuUsPerMsg: usPerMsg(tierCpuSeconds('postgres') - pg0),
    });
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
  }
  return rows;
}

if (import.meta.main) {
  const t0 = Date.now();
  const say = (m: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}\n`);
  try {
    const env = memoryEnvRecord(DEFAULT_WORKER_RESOURCES);
    console.log(JSON.stringify(await scaleOut({ say, env }), null, 2));
  } finally {
    cleanupDirs();
  }
}
