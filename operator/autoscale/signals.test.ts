import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUTOSCALER_SERIES as S } from '../../api/contract.ts';
import { parseMetrics, podSample, workerSignals } from './signals.ts';

const text = (o: {
  wal: number;
  age: number;
  received: number;
  flushed: number;
  sum: number;
  count: number;
  flushers: number;
}) => `
# HELP mqtt2pg_wal_messages x
mqtt2pg_wal_messages{pipeline="p"} ${o.wal}
mqtt2pg_wal_oldest_unflushed_age_seconds{pipeline="p"} ${o.age}
mqtt2pg_received_total{qos="0",pipeline="p"} 0
mqtt2pg_received_total{qos="1",pipeline="p"} ${o.received}
mqtt2pg_flushed_rows_total{pipeline="p"} ${o.flushed}
mqtt2pg_batch_duration_seconds_bucket{le="0.1",pipeline="p"} ${o.count}
mqtt2pg_batch_duration_seconds_sum{pipeline="p"} ${o.sum}
mqtt2pg_batch_duration_seconds_count{pipeline="p"} ${o.count}
mqtt2pg_flushers{pipeline="p"} ${o.flushers}
mqtt2pg_backpressure{pipeline="p"} 0
`;

test('parseMetrics sums the samples of a name over its labels', () => {
  const m = parseMetrics('a{x="1"} 2\na{x="2"} 3\nb 4\n# c 9\n');
  assert.equal(m.get('a'), 5);
  assert.equal(m.get('b'), 4);
  assert.equal(m.has('c'), false);
});

test('podSample refuses a page that is not a worker', () => {
  assert.throws(() => podSample('w', 'u', 0, 'process_cpu_seconds_total 1\n'), /mqtt2pg_wal_messages missing/);
});

test('workerSignals: rates and busy time from deltas, trend from the previous backlog, restarts skipped', () => {
  const a0 = podSample(
    'a',
    'ua',
    0,
    text({ wal: 100, age: 1, received: 1000, flushed: 900, sum: 1, count: 10, flushers: 2 }),
  );
  const b0 = podSample(
    'b',
    'ub',
    0,
    text({ wal: 0, age: 0, received: 500, flushed: 500, sum: 1, count: 5, flushers: 2 }),
  );
  const first = workerSignals([a0, b0], new Map());
  assert.equal(first.backlog, 100);
  assert.equal(first.ingestRate, undefined, 'no rate on the first sample');
  assert.equal(first.backlogTrendPerSec, undefined);

  const a1 = podSample(
    'a',
    'ua',
    10_000,
    text({ wal: 600, age: 4, received: 6000, flushed: 5400, sum: 11, count: 110, flushers: 2 }),
  );
  // b restarted: its counters went back; it adds backlog but no rate.
  const b1 = podSample(
    'b',
    'ub',
    10_000,
    text({ wal: 50, age: 2, received: 10, flushed: 0, sum: 0, count: 0, flushers: 2 }),
  );
  const prev = new Map([a0, b0].map((s) => [s.uid, s]));
  const w = workerSignals([a1, b1], prev, { atMs: 0, backlog: 100 });
  assert.equal(w.backlog, 650);
  assert.equal(w.backlogTrendPerSec, 55);
  assert.equal(w.oldestUnflushedAgeMs, 4000);
  assert.equal(w.ingestRate, 500);
  assert.equal(w.flushRate, 450);
  assert.equal(w.batchLatencyMs, 100);
  assert.equal(w.busyFraction, 0.5, '10 s of batches over 10 s × 2 flushers');
  assert.equal(w.activeFlushers, 4);
  assert.equal(w.backpressure, false);
});

test('podSample reads each series of the worker contract (api/contract.ts; worker/metrics.test.ts checks the worker serves them)', () => {
  const page = [
    `${S.walMessages}{pipeline="p"} 7`,
    `${S.oldestUnflushedAge}{pipeline="p"} 4.5`,
    `${S.received}{qos="0",pipeline="p"} 2`,
    `${S.received}{qos="1",pipeline="p"} 40`,
    `${S.flushedRows}{pipeline="p"} 35`,
    `${S.batchSecondsSum}{pipeline="p"} 1.25`,
    `${S.batchCount}{pipeline="p"} 3`,
    `${S.flushers}{pipeline="p"} 6`,
    `${S.backpressure}{pipeline="p"} 1`,
  ].join('\n');
  assert.deepEqual(podSample('w-0', 'u', 9, page), {
    pod: 'w-0',
    uid: 'u',
    atMs: 9,
    walMessages: 7,
    oldestAgeSeconds: 4.5,
    received: 42,
    flushed: 35,
    batchSeconds: 1.25,
    batches: 3,
    flushers: 6,
    backpressure: 1,
  });
});
