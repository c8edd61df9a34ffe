// `make bench`: what users buy mqtt2pg for, measured on the real services of the test environment and set
// against the limits of the same machine in the same run. Not a test: it asserts nothing, it reports.

import { execFileSync } from 'node:child_process';
import { cpus, freemem, totalmem } from 'node:os';
import { command, requireEnv } from '../test/lib/env.ts';
import { publish } from '../test/lib/publish.ts';
import { cleanupDirs, makePipeline, type TestPipeline } from '../test/lib/worker-process.ts';
import { quantile } from './histogram.ts';
import { brokerLimit, copyLimit, diskLimit, type Env } from './limits.ts';
import { benchReference } from './reference.ts';
import { report } from './report.ts';
import { ROUTE_SUSTAIN_S, routeRates } from './route-rate.ts';
import { committedRate, type Sample, watch } from './sampling.ts';
import { ladder, type Offer, probe, startWorkers, stopWorkers } from './sustain.ts';

const SUSTAIN_S = Number(process.env.BENCH_SUSTAIN_SECONDS ?? 60);
const DRAIN_COUNT = Number(process.env.BENCH_DRAIN_COUNT ?? 500_000);
const PAYLOAD = 200;

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
    `machine: ${machine.cores} cores, ${Math.round(machine.memoryBytes / 2 ** 30)} GiB, Node ${machine.node}, PostgreSQL ${machine.postgres}`,
  );

  say('limit 1/3: broker only (loadgen → Mosquitto → do-nothing subscriber, QoS 1)');
  const broker = await brokerLimit(env, 200_000, PAYLOAD);
  say(`  ${broker.rate} msg/s`);
  say('limit 2/3: PostgreSQL only (psql \\copy of the same rows)');
  const copy = await copyLimit(env, 300_000, PAYLOAD);
  say(`  ${copy.rate} rows/s`);
  say('limit 3/3: disk only (append + fdatasync, one sync per group)');
  const disk = [diskLimit(PAYLOAD + 64, 100, 2000), diskLimit(PAYLOAD + 64, 1000, 300)];
  say(`  ${disk.map((d) => `${d.rate} records/s in groups of ${d.groupSize}`).join(', ')}`);

  // Probe: publish flat out, see what the worker commits; the sustained run holds just under it.
  const p = pipelineFor();
  let workers = await startWorkers(p, 1);
  const offer: Offer = (runId, rate, o) => load(p, runId, rate, o);
  say('probe: 300k messages as fast as they come');
  const probed = await probe(workers, offer, 300_000);
  const probeRate = probed.rate;
  say(`  committed ${probeRate} msg/s over the probe (publisher ${probed.published}/s)`);
  const start = Math.round(Math.min(probeRate, broker.rate) * 0.9);
  const sus = await ladder(workers, offer, {
    start,
    ceiling: broker.rate,
    seconds: SUSTAIN_S,
    attempts: 4,
    tag: 'sus',
    say,
  });
  const sFirst = sus.samples[1] ?? (sus.samples[0] as Sample);
  const sLast = sus.samples.at(-1) as Sample;
  const e2eRate = committedRate(sFirst, sLast);
  const cpuPer100k = ((sLast.cpu - sFirst.cpu) / Math.max(1, sLast.committed - sFirst.committed)) * 100_000;
  const latFull = {
    p50: quantile(sFirst.buckets, sLast.buckets, 0.5),
    p99: quantile(sFirst.buckets, sLast.buckets, 0.99),
  };

  const half = Math.round(sus.rate / 2);
  say(`half load: ${half} msg/s for ${SUSTAIN_S}s`);
  const h = await watch('half', workers, load(p, 'half', half, { durationMs: SUSTAIN_S * 1000 }));
  const hFirst = h.samples[1] ?? (h.samples[0] as Sample);
  const hLast = h.samples.at(-1) as Sample;
  const latHalf = {
    p50: quantile(hFirst.buckets, hLast.buckets, 0.5),
    p99: quantile(hFirst.buckets, hLast.buckets, 0.99),
  };
  const maxLatency = (
    await command('psql', [
      env.databaseUrl,
      '-XAtc',
      `select extract(epoch from max(ingested_at - received_at)) from "${p.table}" where payload->>'run' in ('half', 'sus0', 'sus1', 'sus2', 'sus3')`,
    ])
  ).stdout.trim();

  say(`drain: PostgreSQL stopped while ${DRAIN_COUNT} messages arrive, then started`);
  await command('test/env/service.sh', ['stop', 'postgres']);
  let drainSamples: Sample[] = [];
  let drainSeconds = 0;
  let backlogPeakRss = 0;
  try {
    const fill = await watch(
      'backlog',
      workers,
      load(p, 'drain', 0, { count: DRAIN_COUNT }),
      (s) => s.backlog >= DRAIN_COUNT * 0.999,
    );
    backlogPeakRss = Math.max(...fill.samples.map((s) => s.rss));
  } finally {
    await command('test/env/service.sh', ['start', 'postgres']);
  }
  const drainStart = Date.now();
  const d = await watch('drain', workers, Promise.resolve(), (s) => s.backlog === 0);
  drainSeconds = (Date.now() - drainStart) / 1000;
  drainSamples = d.samples;
  const drainRate = Math.round(DRAIN_COUNT / drainSeconds);
  const drainPeakRss = Math.max(backlogPeakRss, ...drainSamples.map((s) => s.rss));
  await stopWorkers(workers);

  const scaleOut: Array<{ workers: number; rate: number }> = [];
  for (const n of [1, 2, 3]) {
    const sp = pipelineFor();
    workers = await startWorkers(sp, n);
    say(`scale-out: ${n} worker process${n > 1 ? 'es' : ''}, 300k messages`);
    const r = await watch(
      `${n} workers`,
      workers,
      load(sp, `so${n}`, 0, { count: 300_000 }),
      (s) => s.backlog === 0 && s.committed >= 300_000,
    );
    scaleOut.push({ workers: n, rate: committedRate(r.samples[0] as Sample, r.samples.at(-1) as Sample) });
    await stopWorkers(workers);
  }

  say('routes: the plain default route beside a typed route with dedup into a partitioned table');
  const routes = await routeRates({ brokerRate: broker.rate, sustainSeconds: ROUTE_SUSTAIN_S, say });

  // --- reference service (bench/reference.ts): measured only when BENCH_REFERENCE_BIN/_MIGRATE name binaries ---
  const reference = await benchReference({
    sustainedRate: e2eRate,
    sustainSeconds: SUSTAIN_S,
    payloadBytes: PAYLOAD,
    say,
  });
  report({
    startedAt: t0,
    machine,
    payloadBytes: PAYLOAD,
    sustainSeconds: SUSTAIN_S,
    broker,
    copy,
    disk,
    probeRate,
    sustained: sus,
    e2eRate,
    cpuPer100k,
    latFull,
    half: { rate: half, samples: h.samples, lat: latHalf },
    maxLatency,
    drain: {
      messages: DRAIN_COUNT,
      rowsPerS: drainRate,
      seconds: drainSeconds,
      peakRss: drainPeakRss,
      samples: drainSamples,
    },
    scaleOut,
    routes,
    reference,
  });
}

main()
  .catch((err: Error) => {
    console.error(`bench failed: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  })
  .finally(() => {
    cleanupDirs();
  });
