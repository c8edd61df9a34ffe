// What a measurement of the reference service, mqtt2db-go, yields (bench/reference.ts runs it): the numbers
// bench/results/*.json records, or why it was not measured, and the line the bench's table prints.

export const REFERENCE_MODULE = 'github.com/debsahu/mqtt2db-go@v0.1.2';

/** Its flusher settings: the parallel-worker setup its changelog documents for throughput (max_conns 8, workers 7); everything else at its defaults. */
export const REFERENCE_SETTINGS = {
  maxConns: 8,
  flusherWorkers: 7,
  batchSize: 1000,
  flushIntervalMs: 100,
  ringMaxMessages: 100_000,
  badgerSyncWrites: true,
  throughPgBouncer: true,
};

export interface ReferenceUnavailable {
  module: string;
  available: false;
  reason: string;
}

export interface ReferenceMeasured {
  module: string;
  available: true;
  binary: string;
  settings: typeof REFERENCE_SETTINGS & { schema: string; sharedSubscription: string };
  offeredRateMsgPerS: number;
  /** Committed rows/s while our sustained rate was offered (equal to the offered rate when it keeps up). */
  sustainedRateMsgPerS: number;
  held: boolean;
  /** Seconds after the offered load ended until every acknowledged message of the phase was committed. */
  catchUpSeconds: number | null;
  /** Committed rows/s when loadgen publishes as fast as the broker acknowledges. */
  flatOutMsgPerS: number;
  flatOutMessages: number;
  latencyMs: { source: string; p50: number | null; p99: number | null; max: number | null };
  flushDurationMs: { p50: number | null; p99: number | null };
  cpuSecondsPer100k: number;
  cpuSecondsPer100kFlatOut: number;
  peakRssBytes: number;
  flushErrors: { count: number; first: string | null; requeuedToWal: number; deadLetteredBatches: number };
  killRun: {
    published: number;
    acked: number;
    publishErrors: number;
    kills: number;
    rows: number;
    distinctIds: number;
    duplicates: number;
    ackedButLost: number;
    lostSample: string[];
  };
}

export type ReferenceResult = ReferenceUnavailable | ReferenceMeasured;

export const unavailableReference = (reason?: string): ReferenceUnavailable => ({
  module: REFERENCE_MODULE,
  available: false,
  reason:
    reason ??
    'the Go module proxy reachable from this machine answers 403 for every version of github.com/debsahu/mqtt2db-go, so it is not built here; set BENCH_REFERENCE_BIN and BENCH_REFERENCE_MIGRATE to binaries built elsewhere (docs/benchmarks.md) to measure it',
});

/** One line for the table bench/run.ts prints. */
export function referenceSummary(r: ReferenceResult): string {
  if (!r.available) return 'not measured: set BENCH_REFERENCE_BIN and BENCH_REFERENCE_MIGRATE (docs/benchmarks.md)';
  return (
    `${r.sustainedRateMsgPerS} msg/s at ${r.offeredRateMsgPerS} offered (${r.held ? 'held' : 'NOT held'}), ` +
    `${r.flatOutMsgPerS} flat out, latency p50/p99 ${r.latencyMs.p50}/${r.latencyMs.p99} ms, ` +
    `${r.cpuSecondsPer100k} CPU s/100k, ${Math.round(r.peakRssBytes / 2 ** 20)} MiB, ` +
    `kill -9: ${r.killRun.ackedButLost} of ${r.killRun.acked} acked lost`
  );
}
