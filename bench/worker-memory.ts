// Worker memory (issue 17, goal 1): RSS at full rate, then under a growing backlog (PostgreSQL stopped), read
// at 100k messages and at the full backlog, then while it drains. The worker runs with the memory environment
// (NODE_OPTIONS, MALLOC_ARENA_MAX) a worker pod gets for the default memory limit (operator/render/
// worker-memory.ts), so the figure is the pod's; --node-options and --env override it.
//   set -a; . .test-env/env; set +a; node bench/worker-memory.ts [--backlog 1000000] [--rate-count 300000]
//     [--outage stop|proxy] [--node-options=...] [--env NAME=VALUE ...] (the worker's, e.g. MALLOC_ARENA_MAX=2)
//     [--entry other-build/cli/main.js] (a worker built elsewhere, to compare two builds in one session)

import { parseArgs } from 'node:util';
import { DEFAULT_WORKER_RESOURCES } from '../operator/render/worker.ts';
import { memoryEnvRecord } from '../operator/render/worker-memory.ts';
import { command, requireEnv } from '../test/lib/env.ts';
import { publish } from '../test/lib/publish.ts';
import { SilentProxy } from '../test/lib/silent-proxy.ts';
import { cleanupDirs, makePipeline, rewritePipeline, WorkerProcess } from '../test/lib/worker-process.ts';
import { mib } from './proc-stats.ts';
import { RssSplitSampler } from './rss-split.ts';
import { committedRate, type Sample, watch } from './sampling.ts';

export interface WorkerMemoryResult {
  nodeOptions: string;
  fullRate: { messages: number; msgPerS: number; peakRssBytes: number; cpuSecondsPer100k: number };
  backlog: { messages: number; rssAt100kBytes: number; rssAtFullBytes: number; peakRssBytes: number };
  drain: { rowsPerS: number; peakRssBytes: number };
}

/** Runs the phases against one worker; `say` reports progress. */
export async function workerMemory(o: {
  rateCount: number;
  backlog: number;
  nodeOptions?: string;
  /** How PostgreSQL goes away for the backlog: stopped (default), or the worker's path silenced. */
  outage?: 'stop' | 'proxy';
  /** More environment of the worker process (experiments: MALLOC_ARENA_MAX). */
  env?: Record<string, string>;
  /** The compiled CLI the worker runs (default dist/cli/main.js, built first): another build to compare. */
  entry?: string;
  say: (m: string) => void;
}): Promise<WorkerMemoryResult> {
  const podEnv = memoryEnvRecord(DEFAULT_WORKER_RESOURCES);
  const nodeOptions = o.nodeOptions ?? podEnv.NODE_OPTIONS ?? '';
  const p = makePipeline({ spec: { flusher: { retry: { initialBackoff: '50ms', maxBackoff: '1s' } } } });
  // The outage: PostgreSQL stopped (as make bench does; other users of the test environment must wait), or
  // (--outage proxy) the worker's own path to PgBouncer silenced, which leaves the shared services alone.
  const db = new URL(requireEnv('PGBOUNCER_URL'));
  const proxy =
    o.outage === 'proxy' ? await SilentProxy.start(0, { host: db.hostname, port: Number(db.port) }) : undefined;
  if (proxy) rewritePipeline(p, { spec: { sink: { postgres: { host: '127.0.0.1', port: proxy.port } } } });
  const outage = {
    start: async () => (proxy ? proxy.silence() : void (await command('test/env/service.sh', ['stop', 'postgres']))),
    end: async () => (proxy ? proxy.resume() : void (await command('test/env/service.sh', ['start', 'postgres']))),
  };
  // Compiled, as in the image: Node's TypeScript stripping alone costs ~15 MiB of RSS.
  await command('tsc', ['-p', 'tsconfig.build.json']);
  const w = WorkerProcess.start(p, {
    env: { ...podEnv, NODE_OPTIONS: nodeOptions, ...o.env },
    entry: o.entry ?? 'dist/cli/main.js',
  });
  await w.waitReady();
  const load = (runId: string, count: number) =>
    publish(p.path, runId, { rate: 0, count, devices: 200, tenants: 10, payloadBytes: 200, inflight: 1000 });
  const rss = new RssSplitSampler(w.child.pid ?? 0, 'full rate');
  try {
    o.say(`worker memory (NODE_OPTIONS=${nodeOptions}): ${o.rateCount} messages flat out`);
    const full = await watch('full rate', [w], load('mem-rate', o.rateCount), (s) => s.backlog === 0);
    const first = full.samples[0] as Sample;
    const last = full.samples.at(-1) as Sample;
    if (o.backlog === 0) {
      const rss = Math.max(...full.samples.map((s) => s.rss));
      return {
        nodeOptions,
        fullRate: {
          messages: o.rateCount,
          msgPerS: committedRate(first, last),
          peakRssBytes: rss,
          cpuSecondsPer100k:
            Math.round(((last.cpu - first.cpu) / Math.max(1, last.committed - first.committed)) * 1e7) / 100,
        },
        backlog: { messages: 0, rssAt100kBytes: rss, rssAtFullBytes: rss, peakRssBytes: rss },
        drain: { rowsPerS: 0, peakRssBytes: rss },
      };
    }
    o.say(`worker memory: backlog of ${o.backlog}, PostgreSQL out of reach (${o.outage ?? 'stop'})`);
    await outage.start();
    rss.phase = 'backlog';
    let fill: { samples: Sample[] };
    try {
      fill = await watch('backlog', [w], load('mem-backlog', o.backlog), (s) => s.backlog >= o.backlog * 0.999);
    } finally {
      await outage.end();
    }
    const at100k = fill.samples.find((s) => s.backlog >= 100_000) ?? (fill.samples.at(-1) as Sample);
    const t0 = Date.now();
    rss.phase = 'drain';
    const drain = await watch('drain', [w], Promise.resolve(), (s) => s.backlog === 0);
    return {
      nodeOptions,
      fullRate: {
        messages: o.rateCount,
        msgPerS: committedRate(first, last),
        peakRssBytes: Math.max(...full.samples.map((s) => s.rss)),
        cpuSecondsPer100k:
          Math.round(((last.cpu - first.cpu) / Math.max(1, last.committed - first.committed)) * 100_000 * 100) / 100,
      },
      backlog: {
        messages: o.backlog,
        rssAt100kBytes: at100k.rss,
        rssAtFullBytes: (fill.samples.at(-1) as Sample).rss,
        peakRssBytes: Math.max(...fill.samples.map((s) => s.rss)),
      },
      drain: {
        rowsPerS: Math.round(o.backlog / ((Date.now() - t0) / 1000)),
        peakRssBytes: Math.max(...drain.samples.map((s) => s.rss)),
      },
    };
  } finally {
    o.say(`RSS split, highest per phase (MiB): ${JSON.stringify(rss.stop())}`);
    w.kill('SIGTERM');
    await w.exited;
    await proxy?.close();
  }
}

/** Each figure with the limit: RSS ≤ 256 MiB, RSS at the full backlog ≤ 1.1 × RSS at 100k. */
export function workerMemoryGoals(r: WorkerMemoryResult) {
  const peak = Math.max(r.fullRate.peakRssBytes, r.backlog.peakRssBytes, r.drain.peakRssBytes);
  const ratio = (v: number, l: number) => Math.round((v / l) * 100) / 100;
  return {
    peakRssMiB: { value: mib(peak), limit: 256, ratio: ratio(mib(peak), 256) },
    backlogFlatness: {
      value: ratio(r.backlog.rssAtFullBytes, r.backlog.rssAt100kBytes),
      limit: 1.1,
      ratio: ratio(r.backlog.rssAtFullBytes / r.backlog.rssAt100kBytes, 1.1),
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      backlog: { type: 'string', default: '1000000' },
      'rate-count': { type: 'string', default: '300000' },
      'node-options': { type: 'string' },
      outage: { type: 'string', default: 'stop' },
      env: { type: 'string', multiple: true, default: [] },
      entry: { type: 'string' },
    },
  });
  const t0 = Date.now();
  const say = (m: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}\n`);
  try {
    const r = await workerMemory({
      rateCount: Number(values['rate-count']),
      backlog: Number(values.backlog),
      ...(values['node-options'] !== undefined ? { nodeOptions: values['node-options'] } : {}),
      outage: values.outage === 'proxy' ? 'proxy' : 'stop',
      ...(values.entry !== undefined ? { entry: values.entry } : {}),
      env: Object.fromEntries(values.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
      say,
    });
    const g = workerMemoryGoals(r);
    console.log(JSON.stringify({ ...r, goals: g }, null, 2));
    console.log(
      `peak RSS ${g.peakRssMiB.value} MiB (limit 256, ratio ${g.peakRssMiB.ratio}); full rate ${mib(r.fullRate.peakRssBytes)} MiB at ${r.fullRate.msgPerS} msg/s; backlog ${mib(r.backlog.rssAt100kBytes)} MiB at 100k → ${mib(r.backlog.rssAtFullBytes)} MiB at ${r.backlog.messages} (×${g.backlogFlatness.value}, limit 1.1); drain ${r.drain.rowsPerS} rows/s, ${mib(r.drain.peakRssBytes)} MiB`,
    );
  } finally {
    cleanupDirs();
  }
}
