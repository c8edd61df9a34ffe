// The decision table: one row per situation the autoscaler must handle, each with the sizes it must choose.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type DecideInput,
  type Direction,
  decide,
  type Limits,
  type PgBouncerSignals,
  type PostgresSignals,
  type Rung,
  type Sizes,
  type WorkerSignals,
} from './decide.ts';

const limits: Limits = {
  minFlushers: 1,
  maxFlushers: 4,
  minPoolSize: 4,
  maxPoolSize: 12,
  minReplicas: 1,
  maxReplicas: 3,
  pgbouncer: true,
  pgbouncerReplicas: 1,
  batchSize: 100,
  targetOldestUnflushedAgeMs: 10_000,
  targetCommitLatencyMs: 250,
  scaleUpCooldownMs: 30_000,
  scaleDownCooldownMs: 120_000,
};

const NOW = 1_000_000_000;
const start: Sizes = { flushers: 2, poolSize: 8, replicas: 1 };

const growing: WorkerSignals = {
  pods: 1,
  backlog: 20_000,
  backlogTrendPerSec: 800,
  oldestUnflushedAgeMs: 4_000,
  ingestRate: 3_000,
  flushRate: 2_200,
  batchLatencyMs: 40,
  busyFraction: 0.95,
  activeFlushers: 2,
  backpressure: false,
};
const drained: WorkerSignals = {
  ...growing,
  backlog: 12,
  backlogTrendPerSec: -5,
  oldestUnflushedAgeMs: 80,
  ingestRate: 200,
  flushRate: 200,
  busyFraction: 0.1,
};
const idle: WorkerSignals = {
  ...drained,
  backlog: 0,
  backlogTrendPerSec: 0,
  oldestUnflushedAgeMs: 0,
  ingestRate: 0,
  flushRate: 0,
  busyFraction: 0,
};
const healthyPg: PostgresSignals = { maxConnections: 197, connectionsUsed: 20, commitLatencyMs: 3, lockWaits: 0 };
const calmBouncer: PgBouncerSignals = { clWaiting: 0, maxWaitMs: 0, svActive: 2, svIdle: 1 };

interface Row {
  name: string;
  input: Partial<DecideInput> & { workers?: WorkerSignals | null; postgres?: PostgresSignals | null };
  pgbouncer?: PgBouncerSignals | null;
  limits?: Partial<Limits>;
  missing?: string[];
  expect: { next: Sizes; direction: Direction; code: string; rung?: Rung; reason?: RegExp; desired?: Sizes };
}

const rows: Row[] = [
  {
    name: 'backlog rising with headroom: one more flusher',
    input: {},
    expect: { next: { ...start, flushers: 3 }, direction: 'up', code: 'ScaleUp', rung: 'flushers', reason: /growing/ },
  },
  {
    name: 'oldest unflushed age above target while the backlog shrinks: still up',
    input: { workers: { ...growing, backlogTrendPerSec: -50, oldestUnflushedAgeMs: 15_000 } },
    expect: { next: { ...start, flushers: 3 }, direction: 'up', code: 'ScaleUp', reason: /oldest unflushed 15\.0s/ },
  },
  {
    name: 'WAL full (backpressure) counts as pressure',
    input: { workers: { ...growing, backlogTrendPerSec: 0, oldestUnflushedAgeMs: 1_000, backpressure: true } },
    expect: { next: { ...start, flushers: 3 }, direction: 'up', code: 'ScaleUp', reason: /backpressure/ },
  },
  {
    name: 'backlog rising without headroom (commit latency above target): backs off',
    input: { postgres: { ...healthyPg, commitLatencyMs: 900 } },
    expect: { next: { ...start, flushers: 1 }, direction: 'down', code: 'BackOff', reason: /commit latency 900ms/ },
  },
  {
    name: 'lock waits: backs off one step',
    input: { postgres: { ...healthyPg, lockWaits: 3 } },
    expect: {
      next: { ...start, flushers: 1 },
      direction: 'down',
      code: 'BackOff',
      reason: /3 sessions wait for locks/,
    },
  },
  {
    name: 'saturated at the minimum: holds',
    input: { current: { flushers: 1, poolSize: 4, replicas: 1 }, postgres: { ...healthyPg, lockWaits: 1 } },
    expect: { next: { flushers: 1, poolSize: 4, replicas: 1 }, direction: 'hold', code: 'HoldSaturated' },
  },
  {
    name: 'saturated within the down cooldown: holds, desired shows the back-off',
    input: { postgres: { ...healthyPg, commitLatencyMs: 400 }, lastChangeMs: NOW - 10_000 },
    expect: {
      next: start,
      desired: { ...start, flushers: 1 },
      direction: 'hold',
      code: 'HoldSaturatedCooldown',
    },
  },
  {
    name: 'database near max_connections: saturated, backs off',
    input: { postgres: { ...healthyPg, connectionsUsed: 192 } },
    expect: {
      next: { ...start, flushers: 1 },
      direction: 'down',
      code: 'BackOff',
      reason: /5 of 197 connections free/,
    },
  },
  {
    name: 'a step that just fits above the connection margin: up',
    // margin max(2, 5% of 40) = 2: 36 in use + 1 = 37 <= 38
    input: { postgres: { ...healthyPg, maxConnections: 40, connectionsUsed: 36 } },
    expect: { next: { ...start, flushers: 3 }, direction: 'up', code: 'ScaleUp' },
  },
  {
    name: 'a step into the connection margin: holds with the numbers',
    // 37 + 2 (one more pod of 2 flushers) = 39 > 38
    input: {
      postgres: { ...healthyPg, maxConnections: 40, connectionsUsed: 37 },
      current: { flushers: 4, poolSize: 8, replicas: 1 },
    },
    expect: {
      next: { flushers: 4, poolSize: 8, replicas: 1 },
      desired: { flushers: 4, poolSize: 8, replicas: 2 },
      direction: 'hold',
      code: 'HoldNoConnections',
      reason: /needs 8 connections, and with 37 in use/,
    },
  },
  {
    name: 'two pipelines sharing one database: the other one reserves its connections',
    input: { otherPipelinesConnections: 36, postgres: { ...healthyPg, maxConnections: 40, connectionsUsed: 10 } },
    expect: {
      next: start,
      desired: { ...start, flushers: 3 },
      direction: 'hold',
      code: 'HoldNoConnections',
      reason: /reserved by other pipelines/,
    },
  },
  {
    name: 'two pipelines sharing one database, room for both: up',
    input: { otherPipelinesConnections: 20, postgres: { ...healthyPg, maxConnections: 40, connectionsUsed: 10 } },
    expect: { next: { ...start, flushers: 3 }, direction: 'up', code: 'ScaleUp' },
  },
  {
    name: 'PgBouncer clients waiting: the pool grows, not the flushers',
    input: { current: { flushers: 4, poolSize: 4, replicas: 2 } },
    pgbouncer: { ...calmBouncer, clWaiting: 3 },
    expect: { next: { flushers: 4, poolSize: 7, replicas: 2 }, direction: 'up', code: 'ScaleUp', rung: 'poolSize' },
  },
  {
    name: 'PgBouncer clients waiting with the pool at its maximum: saturated, backs off',
    input: { current: { flushers: 4, poolSize: 12, replicas: 3 } },
    pgbouncer: { ...calmBouncer, clWaiting: 5 },
    expect: { next: { flushers: 4, poolSize: 12, replicas: 2 }, direction: 'down', code: 'BackOff', rung: 'replicas' },
  },
  {
    name: 'flushers at max with the pool full: the pool grows before a pod is added',
    input: { current: { flushers: 4, poolSize: 4, replicas: 1 } },
    expect: { next: { flushers: 4, poolSize: 8, replicas: 1 }, direction: 'up', code: 'ScaleUp', rung: 'poolSize' },
  },
  {
    name: 'flushers at max, pool has room: one more pod',
    input: { current: { flushers: 4, poolSize: 8, replicas: 1 } },
    expect: { next: { flushers: 4, poolSize: 8, replicas: 2 }, direction: 'up', code: 'ScaleUp', rung: 'replicas' },
  },
  {
    name: 'flusher blocked by the pool: the pool grows just enough',
    input: { current: { flushers: 2, poolSize: 4, replicas: 2 } },
    expect: { next: { flushers: 2, poolSize: 6, replicas: 2 }, direction: 'up', code: 'ScaleUp', rung: 'poolSize' },
  },
  {
    name: 'without PgBouncer the ladder is flushers then pods',
    input: { current: { flushers: 4, poolSize: 8, replicas: 1 } },
    limits: { pgbouncer: false },
    pgbouncer: null,
    expect: { next: { flushers: 4, poolSize: 8, replicas: 2 }, direction: 'up', code: 'ScaleUp', rung: 'replicas' },
  },
  {
    name: 'bounds reached: holds and says which',
    input: { current: { flushers: 4, poolSize: 12, replicas: 3 } },
    expect: {
      next: { flushers: 4, poolSize: 12, replicas: 3 },
      direction: 'hold',
      code: 'HoldAtMaximum',
      reason: /every rung is at its maximum/,
    },
  },
  {
    name: 'scale-up cooldown active: holds, desired shows the next step',
    input: { lastChangeMs: NOW - 5_000 },
    expect: {
      next: start,
      desired: { ...start, flushers: 3 },
      direction: 'hold',
      code: 'HoldUpCooldown',
      reason: /25\.0s left/,
    },
  },
  {
    name: 'scale-up cooldown over: up',
    input: { lastChangeMs: NOW - 30_000 },
    expect: { next: { ...start, flushers: 3 }, direction: 'up', code: 'ScaleUp' },
  },
  {
    name: 'worker metrics missing: holds and says so',
    input: { workers: null },
    missing: ['worker metrics: pod w-1 (10.0.0.7:9090): connect ECONNREFUSED'],
    expect: { next: start, direction: 'hold', code: 'HoldSignalsMissing', reason: /ECONNREFUSED/ },
  },
  {
    name: 'PostgreSQL unreachable: holds',
    input: { postgres: null },
    missing: ['PostgreSQL (pg.db:5432): password authentication failed'],
    expect: { next: start, direction: 'hold', code: 'HoldSignalsMissing', reason: /password authentication failed/ },
  },
  {
    name: 'PgBouncer unreadable: holds',
    pgbouncer: null,
    input: {},
    expect: { next: start, direction: 'hold', code: 'HoldSignalsMissing', reason: /PgBouncer/ },
  },
  {
    name: 'drained backlog, flushers idle: down one flusher (reverse ladder, pool first when oversized)',
    input: { workers: idle, current: { flushers: 3, poolSize: 3, replicas: 1 } },
    limits: { minPoolSize: 2 },
    expect: { next: { flushers: 2, poolSize: 3, replicas: 1 }, direction: 'down', code: 'ScaleDown', rung: 'flushers' },
  },
  {
    name: 'drained backlog with an oversized pool: the pool shrinks to what the flushers use',
    input: { workers: idle, current: { flushers: 2, poolSize: 10, replicas: 1 } },
    expect: { next: { flushers: 2, poolSize: 4, replicas: 1 }, direction: 'down', code: 'ScaleDown', rung: 'poolSize' },
  },
  {
    name: 'drained with several pods: a pod goes first',
    input: { workers: idle, current: { flushers: 4, poolSize: 12, replicas: 3 } },
    expect: {
      next: { flushers: 4, poolSize: 12, replicas: 2 },
      direction: 'down',
      code: 'ScaleDown',
      rung: 'replicas',
    },
  },
  {
    name: 'drained but the flushers are busy: holds (no flapping)',
    input: { workers: { ...drained, busyFraction: 0.45 }, current: { flushers: 3, poolSize: 4, replicas: 1 } },
    expect: { next: { flushers: 3, poolSize: 4, replicas: 1 }, direction: 'hold', code: 'HoldSteady' },
  },
  {
    name: 'drained within the scale-down cooldown: holds',
    input: { workers: idle, lastChangeMs: NOW - 60_000 },
    expect: { next: start, desired: { ...start, poolSize: 4 }, direction: 'hold', code: 'HoldDownCooldown' },
  },
  {
    name: 'drained at the minimum: holds at the minimum',
    input: { workers: idle, current: { flushers: 1, poolSize: 4, replicas: 1 } },
    expect: { next: { flushers: 1, poolSize: 4, replicas: 1 }, direction: 'hold', code: 'HoldAtMinimum' },
  },
  {
    name: 'first sample (no trend yet), young backlog: holds',
    input: {
      workers: { ...growing, backlogTrendPerSec: undefined, busyFraction: undefined, oldestUnflushedAgeMs: 2_000 },
    },
    expect: { next: start, direction: 'hold', code: 'HoldSteady' },
  },
  {
    name: 'a small backlog growing within the batching window (a second of ingest): noise, holds',
    input: {
      workers: { ...drained, backlog: 1_500, backlogTrendPerSec: 40, ingestRate: 2_000, oldestUnflushedAgeMs: 900 },
    },
    expect: { next: start, direction: 'hold', code: 'HoldSteady' },
  },
  {
    name: 'steady load within targets: holds',
    input: { workers: { ...drained, backlogTrendPerSec: 3, backlog: 40, oldestUnflushedAgeMs: 6_000 } },
    expect: { next: start, direction: 'hold', code: 'HoldSteady' },
  },
  {
    name: 'spec bounds moved under the sizes: follow at once, cooldown or not',
    input: { current: { flushers: 6, poolSize: 8, replicas: 1 }, lastChangeMs: NOW - 1_000 },
    expect: { next: { flushers: 4, poolSize: 8, replicas: 1 }, direction: 'down', code: 'Bounds' },
  },
];

for (const row of rows) {
  test(`decide: ${row.name}`, () => {
    const l = { ...limits, ...row.limits };
    const { workers, postgres, ...rest } = row.input;
    const pgbouncer = row.pgbouncer === undefined ? calmBouncer : row.pgbouncer;
    const input: DecideInput = {
      limits: l,
      current: start,
      now: NOW,
      otherPipelinesConnections: 0,
      ...rest,
      signals: {
        ...(workers === null ? {} : { workers: workers ?? growing }),
        ...(postgres === null ? {} : { postgres: postgres ?? healthyPg }),
        ...(pgbouncer && l.pgbouncer ? { pgbouncer } : {}),
        missing: row.missing ?? [],
      },
    };
    const d = decide(input);
    assert.deepEqual(d.next, row.expect.next, d.reason);
    assert.equal(d.direction, row.expect.direction, d.reason);
    assert.equal(d.code, row.expect.code, d.reason);
    if (row.expect.rung) assert.equal(d.rung, row.expect.rung, d.reason);
    if (row.expect.reason) assert.match(d.reason, row.expect.reason);
    assert.deepEqual(d.desired, row.expect.desired ?? d.next, d.reason);
  });
}

test('decide: the table covers at least 20 situations', () => {
  assert.ok(rows.length >= 20, `${rows.length} rows`);
});
