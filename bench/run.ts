// `make bench`: what users buy mqtt2pg for, measured on the real services of the test environment and set
// against the limits of the same machine in the same run. Not a test: it asserts nothing, it reports.
// Every figure is measured BENCH_RUNS times (default 3), each round with its own limits, so a ratio is
// taken within a round and reported as the median of the rounds with their lowest and highest.

import { execFileSync } from 'node:child_process';
import { cpus, freemem, totalmem } from 'node:os';
import { DEFAULT_WORKER_RESOURCES } from '../operator/render/worker.ts';
import { memoryEnvRecord } from '../operator/render/worker-memory.ts';
import { command, requireEnv } from '../test/lib/env.ts';
import { publish } from '../test/lib/publish.ts';
import { cleanupDirs, makePipeline, type TestPipeline, type WorkerProcess } from '../test/lib/worker-process.ts';
import { drainWindow } from './drain-window.ts';
import { quantile } from './histogram.ts';
import { brokerLimit, copyLimit, diskLimit, type Env } from './limits.ts';
import { operatorGoals, operatorScale, printOperatorTable } from './operator-scale.ts';
import { benchReference } from './reference.ts';
import { type Round, report } from './report.ts';
import { ROUTE_SUSTAIN_S, routeRates } from './route-rate.ts';
import { RssSplitSampler } from './rss-split.ts';
import { committedRate, type Sample, watch } from './sampling.ts';
import { scaleOut } from './scale-out.ts';
import { ladder, type Offer, probe, startWorkers, stopWorkers, type WorkerRun } from './sustain.ts';

const SUSTAIN_S = Number(process.env.BENCH_SUSTAIN_SECONDS ?? 60);
const DRAIN_COUNT = Number(process.env.BENCH_DRAIN_COUNT ?? 1_000_000);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
/** IngestPipelines of the operator part (0 skips it; it needs the kube-apiserver of make test-env). */
const OPERATOR_PIPELINES = Number(process.env.BENCH_OPERATOR_PIPELINES ?? 1000);
const PAYLOAD = 200;
/** Workers run compiled, as in the image (built at the start): TypeScript stripping would add ~15 MiB of RSS. */
const WORKER_ENTRY = 'dist/cli/main.js';
// The worker runs with the memory environment of a worker pod with the default memory limit (NODE_OPTIONS,
// MALLOC_ARENA_MAX); BENCH_WORKER_NODE_OPTIONS replaces the NODE_OPTIONS.
const WORKER_ENV: Record<string, string> = {
  ...memoryEnvRecord(DEFAULT_WORKER_RESOURCES),
  ...(process.env.BENCH_WORKER_NODE_OPTIONS !== undefined
    ? { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS }
    : {}),
};

const env: Env = {
  mqttUrl: requireEnv('MQTT_URL'),
  mqttUser: requireEnv('MQTT_USERNAME'),
  mqttPassword: requireEnv('MQTT_PASSWORD'),
  databaseUrl: requireEnv('DATABASE_URL'),
};

const t0 = Date.now();
const say = (msg: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);

const load = (p: TestPipeline, runId: string, rate: number, o: { count: number } | { durationMs: number }) =>
  publish(p.path, runId, { rate, ...o, devices: 200, tenants: 10, payloadBytes: PAYLOAD, inflight: 1000 });

const pipelineFor = () => makePipeline({ spec: { flusher: { retry: { initialBackoff: '50ms', maxBackoff: '1s' } } } });

type Sustained = Round['sustained'];

const RUN: WorkerRun = { env: WORKER_ENV, entry: WORKER_ENTRY };
const offerOf =
  (p: TestPipeline): Offer =>
  (runId, rate, o) =>
    load(p, runId, rate, o);

/** Probe flat out, then a short ladder around it: the highest rate held (round 1 only; later rounds reuse it). */
async function findRate(workers: WorkerProcess[], p: TestPipeline, brokerRate: number) {
  say('probe: 300k messages as fast as they come');
  const probed = await probe(workers, offerOf(p), 300_000);
  say(`  committed ${probed.rate} msg/s over the probe (publisher ${probed.published}/s)`);
  const sustained = await ladder(workers, offerOf(p), {
    start: Math.round(Math.min(probed.rate, brokerRate) * 0.9),
    ceiling: brokerRate,
    seconds: SUSTAIN_S,
    attempts: 4,
    tag: 'sus',
    say,
  });
  return { probeRate: probed.rate, sustained };
}

/** One sustained run at `rate` (the ladder with a single step). */
const sustainAt = (workers: WorkerProcess[], p: TestPipeline, rate: number, tag: string) =>
  ladder(workers, offerOf(p), { start: rate, ceiling: rate, seconds: SUSTAIN_S, attempts: 1, tag, say });

const window = (ss: Sample[]) => [ss[1] ?? (ss[0] as Sample), ss.at(-1) as Sample] as const;
const latency = (a: Sample, b: Sample) => ({
  p50: quantile(a.buckets, b.buckets, 0.5),
  p99: quantile(a.buckets, b.buckets, 0.99),
});

/** PostgreSQL stopped while `count` messages arrive, then started: the drain rate and the RSS on the way. */
async function drainPhase(workers: WorkerProcess[], p: TestPipeline, runId: string): Promise<Round['drain']> {
  say(`drain: PostgreSQL stopped while ${DRAIN_COUNT} messages arrive, then started`);
  await command('test/env/service.sh', ['stop', 'postgres']);
  const split = new RssSplitSampler(workers[0]?.child.pid ?? 0, 'backlog');
  let fill: Sample[];
  try {
    fill = (
      await watch(
        'backlog',
        workers,
        load(p, runId, 0, { count: DRAIN_COUNT }),
        (s) => s.backlog >= DRAIN_COUNT * 0.999,
      )
    ).samples;
  } finally {
    await command('test/env/service.sh', ['start', 'postgres']);
  }
  // Sampled every 100 ms: a drain of a few seconds read once a second was off by up to a fifth (bench/drain-window.ts).
  split.phase = 'drain';
  const d = await watch('drain', workers, Promise.resolve(), (s) => s.backlog === 0, 100);
  const peaks = Object.values(split.stop());
  const parts = drainWindow(d.samples);
  const at100k = fill.find((s) => s.backlog >= 100_000);
  return {
    messages: DRAIN_COUNT,
    rowsPerS: parts.rowsPerS,
    seconds: parts.drainSeconds,
    resumeSeconds: parts.resumeSeconds,
    totalRowsPerS: parts.totalRowsPerS,
    peakRss: Math.max(...fill.map((s) => s.rss), ...d.samples.map((s) => s.rss)),
    rssAt100k: at100k?.rss ?? null,
    rssAtFull: (fill.at(-1) as Sample).rss,
    peakAnonMiB: Math.max(0, ...peaks.map((x) => x.anonMiB)),
    peakFileMiB: Math.max(0, ...peaks.map((x) => x.fileMiB)),
    samples: d.samples,
  };
}

async function round(i: number, rate: number | undefined): Promise<{ round: Round; probeRate?: number }> {
  say(`round ${i + 1}/${RUNS}: limits`);
  const broker = await brokerLimit(env, 200_000, PAYLOAD);
  const copy = await copyLimit(env, 300_000, PAYLOAD);
  const disk = [diskLimit(PAYLOAD + 64, 100, 2000), diskLimit(PAYLOAD + 64, 1000, 300)];
  say(
    `  broker ${broker.rate} msg/s, psql \\copy ${copy.rate} rows/s, disk ${disk.map((d) => `${d.rate}/s @${d.groupSize}`).join(', ')}`,
  );
  const p = pipelineFor();
  const workers = await startWorkers(p, 1, RUN);
  let probeRate: number | undefined;
  let sustained: Sustained;
  if (rate === undefined) ({ probeRate, sustained } = await findRate(workers, p, broker.rate));
  else sustained = await sustainAt(workers, p, rate, `sus-r${i}`);
  const [sFirst, sLast] = window(sustained.samples);
  const half = Math.round(sustained.rate / 2);
  say(`half load: ${half} msg/s for ${SUSTAIN_S}s`);
  const h = await watch('half', workers, load(p, `half${i}`, half, { durationMs: SUSTAIN_S * 1000 }));
  const [hFirst, hLast] = window(h.samples);
  const maxLatency = (
    await command('psql', [
      env.databaseUrl,
      '-XAtc',
      `select extract(epoch from max(ingested_at - received_at)) from "${p.table}" where payload->>'run' like 'half%' or payload->>'run' like 'sus%'`,
    ])
  ).stdout.trim();
  const drain = await drainPhase(workers, p, `drain${i}`);
  await stopWorkers(workers);
  return {
    ...(probeRate !== undefined ? { probeRate } : {}),
    round: {
      broker,
      copy,
      disk,
      sustained,
      e2eRate: committedRate(sFirst, sLast),
      cpuPer100k: ((sLast.cpu - sFirst.cpu) / Math.max(1, sLast.committed - sFirst.committed)) * 100_000,
      latFull: latency(sFirst, sLast),
      half: { rate: half, samples: h.samples, lat: latency(hFirst, hLast) },
      maxLatency,
      drain,
      scaleOut: await scaleOut({ say, env: WORKER_ENV, entry: WORKER_ENTRY }),
    },
  };
}

async function main() {
  const machine = {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    freeMemoryBytesAtStart: freemem(),
    node: process.version,
    postgres: execFileSync('psql', [env.databaseUrl, '-XAtc', 'show server_version']).toString().trim(),
    pgbouncer: (await command('pgbouncer', ['--version'])).stdout.split('\n')[0],
    mosquitto: ((await command('mosquitto', ['-h'])).stdout.split('\n')[0] ?? '').trim(),
  };
  say(
    `machine: ${machine.cores} cores, ${Math.round(machine.memoryBytes / 2 ** 30)} GiB, Node ${machine.node}, PostgreSQL ${machine.postgres}; ${RUNS} rounds`,
  );
  await command('tsc', ['-p', 'tsconfig.build.json']);
  const rounds: Round[] = [];
  let probeRate = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = await round(i, rounds[0]?.sustained.rate);
    if (r.probeRate !== undefined) probeRate = r.probeRate;
    rounds.push(r.round);
  }

  // --- reference service (bench/reference.ts): measured only when BENCH_REFERENCE_BIN/_MIGRATE name binaries ---
  const reference = await benchReference({
    sustainedRate: (rounds[0] as Round).e2eRate,
    sustainSeconds: SUSTAIN_S,
    payloadBytes: PAYLOAD,
    say,
  });
  say('routes: the plain default route beside a typed route with dedup into a partitioned table');
  const routes = await routeRates({
    brokerRate: (rounds[0] as Round).broker.rate,
    sustainSeconds: ROUTE_SUSTAIN_S,
    say,
  });
  let operator: Awaited<ReturnType<typeof operatorScale>> | null = null;
  if (OPERATOR_PIPELINES > 0 && process.env.KUBECONFIG) {
    operator = await operatorScale({ pipelines: OPERATOR_PIPELINES, restSeconds: 60, say });
  }
  report({
    startedAt: t0,
    machine,
    payloadBytes: PAYLOAD,
    sustainSeconds: SUSTAIN_S,
    workerNodeOptions: WORKER_ENV.NODE_OPTIONS ?? '',
    workerMallocArenaMax: WORKER_ENV.MALLOC_ARENA_MAX ?? '',
    probeRate,
    rounds,
    reference,
    routes,
    operator: operator ? { ...operator, goals: operatorGoals(operator) } : null,
  });
  if (operator) printOperatorTable(operator, operatorGoals(operator));
}

main()
  .catch((err: Error) => {
    console.error(`bench failed: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  })
  .finally(() => {
    cleanupDirs();
  });
