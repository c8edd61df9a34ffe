// What `make bench` leaves behind: the results as JSON (bench/results/<stamp>.json and latest.json), the
// plots in docs/benchmarks/*.svg, and the summary table on stdout.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/lib/env.ts';
import { quantile } from './histogram.ts';
import { type ReferenceResult, referenceSummary } from './reference-result.ts';
import { type RouteRates, routeRateRows } from './route-rate.ts';
import { committedRate, type Sample } from './sampling.ts';
import { lineChart } from './svg.ts';

type Quantiles = { p50: number | null; p99: number | null };

/** Everything the phases of bench/run.ts measured. */
export interface Measurements {
  startedAt: number;
  machine: Record<string, unknown>;
  payloadBytes: number;
  sustainSeconds: number;
  broker: { rate: number };
  copy: { rate: number };
  disk: Array<{ rate: number; groupSize: number }>;
  probeRate: number;
  sustained: { samples: Sample[]; rate: number; held: boolean; published: number };
  e2eRate: number;
  cpuPer100k: number;
  /** Receive → commit latency in seconds at the sustained rate and at half of it. */
  latFull: Quantiles;
  half: { rate: number; samples: Sample[]; lat: Quantiles };
  /** Seconds, as psql printed it (empty when no row matched). */
  maxLatency: string;
  drain: { messages: number; rowsPerS: number; seconds: number; peakRss: number; samples: Sample[] };
  scaleOut: Array<{ workers: number; rate: number }>;
  /** bench/route-rate.ts: the plain default route beside a typed route with dedup into a partitioned table. */
  routes?: RouteRates;
  reference: ReferenceResult;
}

export function benchResults(m: Measurements) {
  const { reference, e2eRate, cpuPer100k, sustained: sus, broker, copy } = m;
  const refRatios = reference.available
    ? {
        e2e_vs_reference: round2(e2eRate / Math.max(1, reference.sustainedRateMsgPerS)),
        cpu_per_msg_vs_reference: round2(cpuPer100k / Math.max(0.001, reference.cpuSecondsPer100k)),
        probe_vs_reference_flat_out: round2(m.probeRate / Math.max(1, reference.flatOutMsgPerS)),
      }
    : { e2e_vs_reference: null, cpu_per_msg_vs_reference: null, probe_vs_reference_flat_out: null };
  return {
    timestamp: new Date().toISOString(),
    durationSeconds: Math.round((Date.now() - m.startedAt) / 1000),
    machine: m.machine,
    settings: {
      payloadBytes: m.payloadBytes,
      qos: 1,
      sustainSeconds: m.sustainSeconds,
      flushers: 2,
      batchSize: 5000,
      flushIntervalMs: 50,
      throughPgBouncer: true,
    },
    limits: { brokerOnlyMsgPerS: broker.rate, psqlCopyRowsPerS: copy.rate, diskFdatasync: m.disk },
    probe: { committedMsgPerS: m.probeRate },
    e2e: {
      sustainedRateMsgPerS: e2eRate,
      offeredRateMsgPerS: sus.rate,
      publishedRateMsgPerS: sus.published,
      held: sus.held,
      latencyAtRateMs: { p50: ms(m.latFull.p50), p99: ms(m.latFull.p99) },
      latencyAtHalfRateMs: { rate: m.half.rate, p50: ms(m.half.lat.p50), p99: ms(m.half.lat.p99) },
      maxLatencyMs: m.maxLatency ? Math.round(Number(m.maxLatency) * 1000) : null,
      cpuSecondsPer100k: round2(cpuPer100k),
      peakRssBytes: Math.max(...sus.samples.map((s) => s.rss)),
    },
    drain: {
      messages: m.drain.messages,
      rowsPerS: m.drain.rowsPerS,
      seconds: round2(m.drain.seconds),
      peakRssBytesDuringBacklog: m.drain.peakRss,
    },
    scaleOut: m.scaleOut,
    routes: m.routes ?? null,
    reference,
    ratios: {
      e2e_vs_broker_limit: round2(e2eRate / broker.rate),
      drain_vs_copy_limit: round2(m.drain.rowsPerS / copy.rate),
      typed_route_vs_plain_route: m.routes?.typedVsPlain ?? null,
      ...refRatios,
    },
    goals: {
      e2e_vs_broker_limit: '>= 0.6',
      drain_vs_copy_limit: '>= 0.7',
      p99_at_half_load_ms: `<= flush interval + 50 = ${50 + 50}`,
      rss_flat_under_backlog: 'peak RSS during a backlog close to peak RSS at steady load',
      typed_route_vs_plain_route: '>= 0.7',
    },
  };
}

/** Writes the results and plots and prints the table. */
export function report(m: Measurements): void {
  const results = benchResults(m);
  const { sustained: sus, drain, broker, copy, disk, e2eRate, latFull, scaleOut, reference } = m;
  const half = m.half.rate;
  const DRAIN_COUNT = drain.messages;
  const drainSamples = drain.samples;
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
        { name: `p99 at ${half}/s`, points: latencySeries(m.half.samples, 0.99), color: '#2ca02c' },
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
    [`latency at half (${half}/s) p50/p99`, `${ms(m.half.lat.p50)} / ${ms(m.half.lat.p99)} ms (goal p99 ≤ 100 ms)`],
    ['max latency', `${results.e2e.maxLatencyMs} ms`],
    ['worker CPU per 100k messages', `${results.e2e.cpuSecondsPer100k} s`],
    ['peak RSS at rate / under backlog', `${mib(results.e2e.peakRssBytes)} / ${mib(drain.peakRss)} MiB`],
    [`drain of ${DRAIN_COUNT}`, `${drain.rowsPerS} rows/s in ${round2(drain.seconds)} s`],
    ['  ÷ psql copy limit', `${results.ratios.drain_vs_copy_limit} (goal ≥ 0.7)`],
    ['scale-out 1/2/3 workers', `${scaleOut.map((s) => `${s.rate}`).join(' / ')} msg/s`],
    ...(m.routes ? routeRateRows(m.routes) : []),
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
