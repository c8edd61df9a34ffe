// `make bench`: what users buy mqtt2pg for, measured on the real services of the test environment and set
// against the limits of the same machine in the same run. Not a test: it asserts nothing, it reports.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { WORKER_METRICS, WORKER_PROCESS_METRICS } from '../api/contract.ts';
import { command, REPO_ROOT, requireEnv } from '../test/lib/env.ts';
import { publish } from '../test/lib/publish.ts';
import { cleanupDirs, makePipeline, type TestPipeline, WorkerProcess } from '../test/lib/worker-process.ts';
import { quantile } from './histogram.ts';
import { brokerLimit, copyLimit, diskLimit, type Env } from './limits.ts';
import { benchReference, referenceSummary } from './reference.ts';
import { lineChart } from './svg.ts';

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

interface Sample {
  t: number;
  committed: number;
  backlog: number;
  rss: number;
  cpu: number;
  buckets: Map<number, number>;
}

const latencyBucket = new RegExp(`^${WORKER_METRICS.receiveToCommit}_bucket\\{le="([^"]+)"\\}$`);

async function sample(workers: WorkerProcess[], t: number): Promise<Sample> {
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

/** Samples every second while `during` runs; prints a progress line. */
async function watch<T>(label: string, workers: WorkerProcess[], during: Promise<T>, until?: (s: Sample) => boolean) {
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
    await new Promise((r) => setTimeout(r, 1000));
  }
  process.stderr.write('\n');
  return { samples, result: result as T };
}

const load = (p: TestPipeline, runId: string, rate: number, o: { count: number } | { durationMs: number }) =>
  publish(p.path, runId, { rate, ...o, devices: 200, tenants: 10, payloadBytes: PAYLOAD, inflight: 1000 });

const pipelineFor = () => makePipeline({ spec: { flusher: { retry: { initialBackoff: '50ms', maxBackoff: '1s' } } } });

async function startWorkers(p: TestPipeline, n: number) {
  const ws = Array.from({ length: n }, (_, i) =>
    WorkerProcess.start(n === 1 ? p : { ...p, walDir: `${p.walDir}-${i}` }, { instance: `${p.name}-${i}` }),
  );
  await Promise.all(ws.map((w) => w.waitReady()));
  return ws;
}

async function stopWorkers(ws: WorkerProcess[]) {
  for (const w of ws) w.kill('SIGTERM');
  await Promise.all(ws.map((w) => w.exited));
}

const committedRate = (a: Sample, b: Sample) => Math.round((b.committed - a.committed) / Math.max(0.001, b.t - a.t));

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
  say('probe: 300k messages as fast as they come');
  const probe = await watch(
    'probe',
    workers,
    load(p, 'probe', 0, { count: 300_000 }),
    (s) => s.backlog === 0 && s.committed >= 300_000,
  );
  const probeRate = committedRate(probe.samples[0] as Sample, probe.samples.at(-1) as Sample);
  say(`  committed ${probeRate} msg/s over the probe (publisher ${probe.result.rate}/s)`);

  // A short ladder around the probe: up 10% while the rate holds (never above the broker's own limit),
  // down 15% while it does not; the highest rate held is the result.
  let rate = Math.round(Math.min(probeRate, broker.rate) * 0.9);
  let sustained: { samples: Sample[]; rate: number; held: boolean; published: number } | undefined;
  let failedAt = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 4; attempt++) {
    say(`sustained: ${rate} msg/s for ${SUSTAIN_S}s`);
    const r = await watch('sustained', workers, load(p, `sus${attempt}`, rate, { durationMs: SUSTAIN_S * 1000 }));
    const last = r.samples.at(-1) as Sample;
    const mid = r.samples[Math.floor(r.samples.length / 2)] as Sample;
    // Held: the backlog at the end is under a second of traffic and no larger than half-way through.
    const held = last.backlog <= Math.max(rate, 5000) && last.backlog <= mid.backlog + rate * 0.5;
    await watch('settle', workers, Promise.resolve(), (s) => s.backlog === 0);
    if (held) {
      sustained = { samples: r.samples, rate, held, published: r.result.rate };
      const next = Math.round(rate * 1.1);
      // A publisher that could not reach the offered rate is the limit now: climbing further measures it.
      if (next > broker.rate || next >= failedAt || r.result.rate < rate * 0.95) break;
      say(`  held: trying 10% higher`);
      rate = next;
    } else {
      failedAt = rate;
      if (sustained?.held) break;
      sustained = { samples: r.samples, rate, held, published: r.result.rate };
      say(`  backlog grew to ${last.backlog}: trying 15% lower`);
      rate = Math.round(rate * 0.85);
    }
  }
  const sus = sustained as NonNullable<typeof sustained>;
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

  // --- reference service (bench/reference.ts): measured only when BENCH_REFERENCE_BIN/_MIGRATE name binaries ---
  const reference = await benchReference({
    sustainedRate: e2eRate,
    sustainSeconds: SUSTAIN_S,
    payloadBytes: PAYLOAD,
    say,
  });
  const refRatios = reference.available
    ? {
        e2e_vs_reference: round2(e2eRate / Math.max(1, reference.sustainedRateMsgPerS)),
        cpu_per_msg_vs_reference: round2(cpuPer100k / Math.max(0.001, reference.cpuSecondsPer100k)),
        probe_vs_reference_flat_out: round2(probeRate / Math.max(1, reference.flatOutMsgPerS)),
      }
    : { e2e_vs_reference: null, cpu_per_msg_vs_reference: null, probe_vs_reference_flat_out: null };
  // --- end reference ---
  const results = {
    timestamp: new Date().toISOString(),
    durationSeconds: Math.round((Date.now() - t0) / 1000),
    machine,
    settings: {
      payloadBytes: PAYLOAD,
      qos: 1,
      sustainSeconds: SUSTAIN_S,
      flushers: 2,
      batchSize: 5000,
      flushIntervalMs: 50,
      throughPgBouncer: true,
    },
    limits: { brokerOnlyMsgPerS: broker.rate, psqlCopyRowsPerS: copy.rate, diskFdatasync: disk },
    probe: { committedMsgPerS: probeRate },
    e2e: {
      sustainedRateMsgPerS: e2eRate,
      offeredRateMsgPerS: sus.rate,
      publishedRateMsgPerS: sus.published,
      held: sus.held,
      latencyAtRateMs: { p50: ms(latFull.p50), p99: ms(latFull.p99) },
      latencyAtHalfRateMs: { rate: half, p50: ms(latHalf.p50), p99: ms(latHalf.p99) },
      maxLatencyMs: maxLatency ? Math.round(Number(maxLatency) * 1000) : null,
      cpuSecondsPer100k: round2(cpuPer100k),
      peakRssBytes: Math.max(...sus.samples.map((s) => s.rss)),
    },
    drain: {
      messages: DRAIN_COUNT,
      rowsPerS: drainRate,
      seconds: round2(drainSeconds),
      peakRssBytesDuringBacklog: drainPeakRss,
    },
    scaleOut,
    reference,
    ratios: {
      e2e_vs_broker_limit: round2(e2eRate / broker.rate),
      drain_vs_copy_limit: round2(drainRate / copy.rate),
      ...refRatios,
    },
    goals: {
      e2e_vs_broker_limit: '>= 0.6',
      drain_vs_copy_limit: '>= 0.7',
      p99_at_half_load_ms: `<= flush interval + 50 = ${50 + 50}`,
      rss_flat_under_backlog: 'peak RSS during a backlog close to peak RSS at steady load',
    },
  };

  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = results.timestamp.replace(/[:.]/g, '-');
  writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify({ file: `${stamp}.json`, ...results }, null, 2)}\n`);
  const plots = join(REPO_ROOT, 'docs', 'benchmarks');
  mkdirSync(plots, { recursive: true });
  const perSecond = (ss: Sample[]) =>
    ss.slice(1).map((s, i) => [s.t, committedRate(ss[i] as Sample, s)] as [number, number]);
  writeFileSync(
    join(plots, 'sustained.svg'),
    lineChart(
      `Sustained load: ${sus.rate} msg/s offered, QoS 1, through PgBouncer`,
      'seconds',
      [
        { name: 'committed msg/s', points: perSecond(sus.samples), color: '#1f77b4' },
        {
          name: 'WAL backlog (messages)',
          points: sus.samples.map((s) => [s.t, s.backlog]),
          color: '#d62728',
          right: true,
        },
      ],
      'messages/s',
      'backlog',
    ),
  );
  const latencySeries = (ss: Sample[], q: number) =>
    ss
      .slice(1)
      .map((s, i) => [s.t, (quantile((ss[i] as Sample).buckets, s.buckets, q) ?? 0) * 1000] as [number, number]);
  writeFileSync(
    join(plots, 'latency.svg'),
    lineChart(
      'Receive → commit latency per second',
      'seconds',
      [
        { name: `p50 at ${sus.rate}/s`, points: latencySeries(sus.samples, 0.5), color: '#1f77b4' },
        { name: `p99 at ${sus.rate}/s`, points: latencySeries(sus.samples, 0.99), color: '#d62728' },
        { name: `p99 at ${half}/s`, points: latencySeries(h.samples, 0.99), color: '#2ca02c' },
      ],
      'milliseconds',
    ),
  );
  writeFileSync(
    join(plots, 'drain.svg'),
    lineChart(
      `Drain after a PostgreSQL outage: ${DRAIN_COUNT} messages`,
      'seconds after PostgreSQL returned',
      [
        { name: 'WAL backlog (messages)', points: drainSamples.map((s) => [s.t, s.backlog]), color: '#d62728' },
        { name: 'RSS (MiB)', points: drainSamples.map((s) => [s.t, s.rss / 2 ** 20]), color: '#9467bd', right: true },
      ],
      'messages',
      'MiB',
    ),
  );

  const table = [
    ['broker-only limit (QoS 1)', `${broker.rate} msg/s`],
    ['psql \\copy limit', `${copy.rate} rows/s`],
    ['disk fdatasync limit', disk.map((x) => `${x.rate}/s @${x.groupSize}`).join(', ')],
    [
      'mqtt2pg sustained (QoS 1, PgBouncer)',
      `${e2eRate} msg/s (offered ${sus.rate}, published ${sus.published}, ${sus.held ? 'held' : 'NOT held'})`,
    ],
    ['  ÷ broker limit', `${results.ratios.e2e_vs_broker_limit} (goal ≥ 0.6)`],
    ['latency at rate p50/p99', `${ms(latFull.p50)} / ${ms(latFull.p99)} ms`],
    [`latency at half (${half}/s) p50/p99`, `${ms(latHalf.p50)} / ${ms(latHalf.p99)} ms (goal p99 ≤ 100 ms)`],
    ['max latency', `${results.e2e.maxLatencyMs} ms`],
    ['worker CPU per 100k messages', `${results.e2e.cpuSecondsPer100k} s`],
    ['peak RSS at rate / under backlog', `${mib(results.e2e.peakRssBytes)} / ${mib(drainPeakRss)} MiB`],
    [`drain of ${DRAIN_COUNT}`, `${drainRate} rows/s in ${round2(drainSeconds)} s`],
    ['  ÷ psql copy limit', `${results.ratios.drain_vs_copy_limit} (goal ≥ 0.7)`],
    ['scale-out 1/2/3 workers', `${scaleOut.map((s) => `${s.rate}`).join(' / ')} msg/s`],
    ['reference mqtt2db-go', referenceSummary(reference)],
  ];
  const w = Math.max(...table.map((r) => (r[0] as string).length));
  console.log(`\nmqtt2pg benchmark, ${results.timestamp} (${results.durationSeconds} s)\n`);
  for (const [k, v] of table) console.log(`  ${(k as string).padEnd(w)}  ${v}`);
  console.log(`\nresults: bench/results/${stamp}.json (and latest.json); plots: docs/benchmarks/*.svg`);
}

const ms = (s: number | null) => (s === null ? null : Math.round(s * 10_000) / 10);
const round2 = (n: number) => Math.round(n * 100) / 100;
const mib = (b: number) => Math.round(b / 2 ** 20);

main()
  .catch((err: Error) => {
    console.error(`bench failed: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  })
  .finally(() => {
    cleanupDirs();
  });
