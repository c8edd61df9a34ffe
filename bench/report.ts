// What `make bench` leaves behind: the results as JSON (bench/results/<stamp>.json and latest.json), the
// plots in docs/benchmarks/*.svg, and the summary table on stdout.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/lib/env.ts';
import { quantile } from './histogram.ts';
import { type ReferenceResult, referenceSummary } from './reference-result.ts';
import { type RouteRates, routeRateRows } from './route-rate.ts';
import { committedRate, type Sample } from './sampling.ts';
import { type Spread, showSpread, spread } from './spread.ts';
import { lineChart } from './svg.ts';

type Quantiles = { p50: number | null; p99: number | null };

/** One worker count of the scale-out phase: CPU in microseconds per committed message, per tier. */
export interface ScaleOutRow {
  workers: number;
  rate: number;
  workerCpuUsPerMsg: number;
  brokerCpuUsPerMsg: number;
  postgresCpuUsPerMsg: number;
}

/** One round of bench/run.ts: the limits, then mqtt2pg, measured back to back. */
export interface Round {
  broker: { rate: number };
  copy: { rate: number };
  disk: Array<{ rate: number; groupSize: number }>;
  sustained: { samples: Sample[]; rate: number; held: boolean; published: number };
  e2eRate: number;
  cpuPer100k: number;
  /** Receive → commit latency in seconds at the sustained rate and at half of it. */
  latFull: Quantiles;
  half: { rate: number; samples: Sample[]; lat: Quantiles };
  /** Seconds, as psql printed it (empty when no row matched). */
  maxLatency: string;
  /** rowsPerS over `seconds`: first commit after PostgreSQL returned → empty backlog (bench/drain-window.ts). */
  drain: {
    messages: number;
    rowsPerS: number;
    seconds: number;
    resumeSeconds: number;
    totalRowsPerS: number;
    peakRss: number;
    rssAt100k: number | null;
    rssAtFull: number;
    /** Highest anonymous and file-mapped RSS of the worker during the backlog and the drain (bench/rss-split.ts). */
    peakAnonMiB: number;
    peakFileMiB: number;
    samples: Sample[];
  };
  scaleOut: ScaleOutRow[];
}

/** Everything bench/run.ts measured. */
export interface Measurements {
  startedAt: number;
  machine: Record<string, unknown>;
  payloadBytes: number;
  sustainSeconds: number;
  workerNodeOptions: string;
  /** MALLOC_ARENA_MAX of the workers ('' when unset). */
  workerMallocArenaMax: string;
  probeRate: number;
  rounds: Round[];
  reference: ReferenceResult;
  /** bench/route-rate.ts: the plain default route beside a typed route with dedup into a partitioned table. */
  routes?: RouteRates;
  operator: (Record<string, unknown> & { goals: Record<string, unknown> }) | null;
}

/** A figure over the rounds. */
const over = (rounds: Round[], f: (r: Round) => number | null) =>
  spread(rounds.map(f).filter((x): x is number => x !== null));

export function benchResults(m: Measurements) {
  const { reference, rounds } = m;
  const first = rounds[0] as Round;
  const e2e = over(rounds, (r) => r.e2eRate);
  const cpu = over(rounds, (r) => round2(r.cpuPer100k));
  const refRatios = reference.available
    ? {
        e2e_vs_reference: round2(e2e.median / Math.max(1, reference.sustainedRateMsgPerS)),
        cpu_per_msg_vs_reference: round2(cpu.median / Math.max(0.001, reference.cpuSecondsPer100k)),
        probe_vs_reference_flat_out: round2(m.probeRate / Math.max(1, reference.flatOutMsgPerS)),
      }
    : { e2e_vs_reference: null, cpu_per_msg_vs_reference: null, probe_vs_reference_flat_out: null };
  const peakRssAtRate = over(rounds, (r) => Math.max(...r.sustained.samples.map((s) => s.rss)));
  const scaleOut = [1, 2, 3].map((n) => {
    const rows = rounds.map((r) => r.scaleOut.find((x) => x.workers === n) as ScaleOutRow);
    return {
      workers: n,
      rate: spread(rows.map((x) => x.rate)),
      workerCpuUsPerMsg: spread(rows.map((x) => x.workerCpuUsPerMsg)),
      brokerCpuUsPerMsg: spread(rows.map((x) => x.brokerCpuUsPerMsg)),
      postgresCpuUsPerMsg: spread(rows.map((x) => x.postgresCpuUsPerMsg)),
    };
  });
  const one = scaleOut[0]?.workerCpuUsPerMsg.median ?? 0;
  return {
    timestamp: new Date().toISOString(),
    durationSeconds: Math.round((Date.now() - m.startedAt) / 1000),
    machine: m.machine,
    settings: {
      rounds: rounds.length,
      payloadBytes: m.payloadBytes,
      qos: 1,
      sustainSeconds: m.sustainSeconds,
      flushers: 2,
      batchSize: 5000,
      flushIntervalMs: 50,
      throughPgBouncer: true,
      workerNodeOptions: m.workerNodeOptions,
      workerMallocArenaMax: m.workerMallocArenaMax,
    },
    limits: {
      brokerOnlyMsgPerS: over(rounds, (r) => r.broker.rate),
      psqlCopyRowsPerS: over(rounds, (r) => r.copy.rate),
      diskFdatasync: first.disk,
    },
    probe: { committedMsgPerS: m.probeRate },
    e2e: {
      sustainedRateMsgPerS: e2e,
      offeredRateMsgPerS: first.sustained.rate,
      publishedRateMsgPerS: over(rounds, (r) => r.sustained.published),
      held: rounds.map((r) => r.sustained.held),
      latencyAtRateMs: { p50: over(rounds, (r) => ms(r.latFull.p50)), p99: over(rounds, (r) => ms(r.latFull.p99)) },
      latencyAtHalfRateMs: {
        rate: first.half.rate,
        p50: over(rounds, (r) => ms(r.half.lat.p50)),
        p99: over(rounds, (r) => ms(r.half.lat.p99)),
      },
      maxLatencyMs: over(rounds, (r) => (r.maxLatency ? Math.round(Number(r.maxLatency) * 1000) : null)),
      cpuSecondsPer100k: cpu,
      peakRssBytes: peakRssAtRate,
    },
    drain: {
      messages: first.drain.messages,
      rowsPerS: over(rounds, (r) => r.drain.rowsPerS),
      seconds: over(rounds, (r) => round2(r.drain.seconds)),
      resumeSecondsAfterPostgresStarted: over(rounds, (r) => round2(r.drain.resumeSeconds)),
      totalRowsPerSIncludingResume: over(rounds, (r) => r.drain.totalRowsPerS),
      peakRssBytesDuringBacklog: over(rounds, (r) => r.drain.peakRss),
      peakAnonymousRssMiBDuringBacklog: over(rounds, (r) => r.drain.peakAnonMiB),
      peakFileMappedRssMiBDuringBacklog: over(rounds, (r) => r.drain.peakFileMiB),
      rssBytesAt100kBacklog: over(rounds, (r) => r.drain.rssAt100k),
      rssBytesAtFullBacklog: over(rounds, (r) => r.drain.rssAtFull),
    },
    scaleOut: {
      rows: scaleOut,
      // Extra worker CPU per message for each worker added to the shared subscription.
      coordinationCpuUsPerMsgPerWorker: spread(
        [2, 3].map((n) => ((scaleOut[n - 1]?.workerCpuUsPerMsg.median ?? one) - one) / (n - 1)),
      ),
    },
    reference,
    routes: m.routes ?? null,
    operator: m.operator,
    ratios: {
      e2e_vs_broker_limit: over(rounds, (r) => round2(r.e2eRate / r.broker.rate)),
      drain_vs_copy_limit: over(rounds, (r) => round2(r.drain.rowsPerS / r.copy.rate)),
      rss_full_backlog_vs_100k: over(rounds, (r) =>
        r.drain.rssAt100k ? round2(r.drain.rssAtFull / r.drain.rssAt100k) : null,
      ),
      typed_route_vs_plain_route: m.routes?.typedVsPlain ?? null,
      ...refRatios,
    },
    goals: {
      e2e_vs_broker_limit: '>= 0.75 (median of the rounds)',
      drain_vs_copy_limit: '>= 0.8',
      p99_at_half_load_ms: `<= flush interval + 50 = ${50 + 50}`,
      worker_peak_rss: '<= 256 MiB at full rate and under the backlog',
      rss_full_backlog_vs_100k: '<= 1.1',
      typed_route_vs_plain_route: '>= 0.7',
      operator: '1,000 pipelines: cold start <= 60 s, RSS <= 200 MiB, no writes at rest',
    },
  };
}

/** Writes the results and plots and prints the table. */
export function report(m: Measurements): void {
  const results = benchResults(m);
  // The plots show the first round (the one whose ladder found the rate).
  const r0 = m.rounds[0] as Round;
  const { sustained: sus, drain } = r0;
  const half = r0.half.rate;
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
        { name: `p99 at ${half}/s`, points: latencySeries(r0.half.samples, 0.99), color: '#2ca02c' },
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

  const R = results;
  const sp = showSpread;
  const table = [
    ['broker-only limit (QoS 1)', sp(R.limits.brokerOnlyMsgPerS, ' msg/s')],
    ['psql \\copy limit', sp(R.limits.psqlCopyRowsPerS, ' rows/s')],
    ['disk fdatasync limit', r0.disk.map((x) => `${x.rate}/s @${x.groupSize}`).join(', ')],
    [
      'mqtt2pg sustained (QoS 1, PgBouncer)',
      `${sp(R.e2e.sustainedRateMsgPerS, ' msg/s')} (offered ${sus.rate}, held ${R.e2e.held.filter(Boolean).length}/${R.e2e.held.length})`,
    ],
    ['  ÷ broker limit', `${sp(R.ratios.e2e_vs_broker_limit)} (goal ≥ 0.75)`],
    ['latency at rate p50 / p99', `${sp(R.e2e.latencyAtRateMs.p50)} / ${sp(R.e2e.latencyAtRateMs.p99)} ms`],
    [
      `latency at half (${half}/s) p50 / p99`,
      `${sp(R.e2e.latencyAtHalfRateMs.p50)} / ${sp(R.e2e.latencyAtHalfRateMs.p99)} ms (goal p99 ≤ 100 ms)`,
    ],
    ['max latency', sp(R.e2e.maxLatencyMs, ' ms')],
    ['worker CPU per 100k messages', sp(R.e2e.cpuSecondsPer100k, ' s')],
    [
      'peak RSS at rate / under backlog',
      `${sp(mibs(R.e2e.peakRssBytes))} / ${sp(mibs(R.drain.peakRssBytesDuringBacklog))} MiB (goal ≤ 256; ${m.workerNodeOptions || 'no NODE_OPTIONS'})`,
    ],
    [
      '  under backlog: anonymous / file-mapped',
      `${sp(R.drain.peakAnonymousRssMiBDuringBacklog, ' MiB')} / ${sp(R.drain.peakFileMappedRssMiBDuringBacklog, ' MiB')} (highest of each)`,
    ],
    [
      `RSS at 100k / ${drain.messages} backlog`,
      `${sp(mibs(R.drain.rssBytesAt100kBacklog))} / ${sp(mibs(R.drain.rssBytesAtFullBacklog))} MiB, ratio ${sp(R.ratios.rss_full_backlog_vs_100k)} (goal ≤ 1.1)`,
    ],
    [
      `drain of ${drain.messages}`,
      `${sp(R.drain.rowsPerS, ' rows/s')} in ${sp(R.drain.seconds, ' s')}, after ${sp(R.drain.resumeSecondsAfterPostgresStarted, ' s')} to resume (${sp(R.drain.totalRowsPerSIncludingResume, ' rows/s')} overall)`,
    ],
    ['  ÷ psql copy limit', `${sp(R.ratios.drain_vs_copy_limit)} (goal ≥ 0.8)`],
    ...R.scaleOut.rows.map((x) => [
      `scale-out ${x.workers} worker${x.workers > 1 ? 's' : ''}`,
      `${sp(x.rate, ' msg/s')}; CPU µs/msg worker ${sp(x.workerCpuUsPerMsg)}, broker ${sp(x.brokerCpuUsPerMsg)}, PostgreSQL ${sp(x.postgresCpuUsPerMsg)}`,
    ]),
    ['  coordination per added worker', `${sp(R.scaleOut.coordinationCpuUsPerMsgPerWorker)} CPU µs/msg`],
    ...(m.routes ? routeRateRows(m.routes) : []),
    ['reference mqtt2db-go', referenceSummary(m.reference)],
  ];
  const w = Math.max(...table.map((r) => (r[0] as string).length));
  console.log(`\nmqtt2pg benchmark, ${results.timestamp} (${results.durationSeconds} s)\n`);
  for (const [k, v] of table) console.log(`  ${(k as string).padEnd(w)}  ${v}`);
  console.log(`\nresults: bench/results/${stamp}.json (and latest.json); plots: docs/benchmarks/*.svg`);
}

const ms = (s: number | null) => (s === null ? null : Math.round(s * 10_000) / 10);
const mibs = (s: Spread): Spread => ({
  median: mib(s.median),
  min: mib(s.min),
  max: mib(s.max),
  samples: s.samples.map(mib),
});
const round2 = (n: number) => Math.round(n * 100) / 100;
const mib = (b: number) => Math.round(b / 2 ** 20);
