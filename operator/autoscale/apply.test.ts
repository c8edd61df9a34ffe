// What a decision shows the user: the status.autoscaling record, the rate and backlog columns of
// `kubectl get ingp`, the Events of `kubectl describe ingp`, and which PgBouncers get a new pool size.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IngestPipeline, IngestPipelineStatus } from '../../api/types.ts';
import { pipeline } from '../../test/lib/pipelines.ts';
import type { KubeObject } from '../runtime/kube.ts';
import {
  bouncersToResize,
  DISABLED_EVENT,
  decisionEvent,
  METRICS_REFRESH_MS,
  statusWrite,
  storedStatus,
} from './apply.ts';
import { type DecideInput, type Decision, limitsOf, type Sizes, type WorkerSignals } from './decide.ts';
import type { Bouncer } from './gather.ts';

// The bounds only shape the Event texts here (whether the pool is named); the defaults of a pipeline with
// PgBouncer are as good as any.
const limits = limitsOf(
  pipeline({
    sink: {
      postgres: { host: 'pg', database: 'telemetry', credentialsSecretRef: { name: 'pg' } },
      pgbouncer: { enabled: true },
    },
    autoscaling: { enabled: true },
  }).r,
);

const NOW = Date.parse('2025-03-01T12:00:00.400Z');
const small: Sizes = { flushers: 1, poolSize: 4, replicas: 1 };
const bigger: Sizes = { flushers: 2, poolSize: 4, replicas: 1 };

const workers: WorkerSignals = {
  pods: 1,
  backlog: 5000,
  backlogTrendPerSec: 123.456,
  oldestUnflushedAgeMs: 12_345,
  ingestRate: 850.26,
  flushRate: 700.4,
  batchLatencyMs: 41.237,
  busyFraction: 0.9731,
  activeFlushers: 1,
  backpressure: false,
};

const input = (over: Partial<DecideInput> = {}): DecideInput => ({
  signals: {
    workers,
    postgres: { maxConnections: 97, connectionsUsed: 12, commitLatencyMs: 3.149, lockWaits: 0 },
    pgbouncer: { clWaiting: 0, maxWaitMs: 0.4, svActive: 1, svIdle: 0 },
    missing: [],
  },
  limits,
  current: small,
  now: NOW,
  otherPipelinesConnections: 3,
  ...over,
});

const scaleUp: Decision = {
  next: bigger,
  desired: bigger,
  direction: 'up',
  rung: 'flushers',
  code: 'ScaleUp',
  reason: 'oldest unflushed 12.3s above target 10.0s; adding a flusher',
};

const hold = (code: string, reason: string, at: Sizes = small): Decision => ({
  next: at,
  desired: at,
  direction: 'hold',
  code,
  reason,
});

/** The status after a write of `patch` over `stored` (a merge patch, one level deep is enough here). */
const merged = (stored: IngestPipelineStatus, patch: Record<string, unknown>) =>
  ({ ...stored, ...patch }) as IngestPipelineStatus;

test('a first decision writes the whole autoscaling record with every signal, rounded, and the columns', () => {
  const w = statusWrite(input(), scaleUp, undefined, 0);
  assert.deepEqual(w, {
    decisionChanged: true,
    patch: {
      autoscaling: {
        current: { flushers: 2, poolSize: 4, replicas: 1 },
        desired: { flushers: 2, poolSize: 4, replicas: 1 },
        reason: 'oldest unflushed 12.3s above target 10.0s; adding a flusher',
        lastChangeTime: '2025-03-01T12:00:00Z',
        signals: {
          decision: 'ScaleUp',
          direction: 'up',
          rung: 'flushers',
          pods: 1,
          backlog: 5000,
          backlogTrendPerSecond: 123,
          oldestUnflushedSeconds: 12.3,
          ingestRate: 850,
          flushRate: 700,
          batchLatencyMs: 41.2,
          flusherBusy: 0.97,
          activeFlushers: 1,
          backpressure: false,
          postgresConnectionsUsed: 12,
          postgresConnectionsMax: 97,
          postgresCommitLatencyMs: 3.1,
          postgresLockWaits: 0,
          otherPipelinesConnections: 3,
          pgbouncerClWaiting: 0,
          pgbouncerMaxWaitMs: 0,
          pgbouncerServerActive: 1,
          pgbouncerServerIdle: 0,
          missing: [],
        },
      },
      ingestRate: 850.3,
      backlog: 5000,
      oldestUnflushedSeconds: 12.3,
    },
  });
});

test('signals that could not be read are null in the record and listed under missing; no columns are written', () => {
  const i = input({ signals: { missing: ['worker metrics: connect ECONNREFUSED 10.0.0.7:9090'] } });
  const w = statusWrite(i, hold('HoldSignalsMissing', 'holding 1 flushers × 1 pods, pool 4: signals missing'), {}, 0);
  assert.ok(w);
  const patch = w.patch as { autoscaling: { signals: Record<string, unknown> } };
  assert.deepEqual(Object.keys(patch), ['autoscaling']);
  const s = patch.autoscaling.signals;
  assert.equal(s.rung, null);
  assert.equal(s.backlog, null);
  assert.equal(s.oldestUnflushedSeconds, null);
  assert.equal(s.postgresCommitLatencyMs, null);
  assert.equal(s.pgbouncerClWaiting, null);
  assert.deepEqual(s.missing, ['worker metrics: connect ECONNREFUSED 10.0.0.7:9090']);
});

test('the same kind of decision again writes nothing, though the numbers in its reason moved', () => {
  const first = statusWrite(input(), hold('HoldSteady', 'backlog 5000 within targets'), undefined, 0);
  assert.ok(first);
  const stored = merged({}, first.patch);
  const next = input({ now: NOW + 15_000 });
  assert.equal(statusWrite(next, hold('HoldSteady', 'backlog 4990 within targets'), stored, NOW), undefined);
});

test('a new kind of decision at the same sizes is written but keeps the time of the last size change', () => {
  const first = statusWrite(input(), scaleUp, undefined, 0);
  assert.ok(first);
  const stored = merged({}, first.patch);
  const later = input({ current: bigger, now: NOW + 20_000 });
  const w = statusWrite(later, hold('HoldUpCooldown', 'scale-up cooldown: 10.0s left', bigger), stored, NOW);
  assert.ok(w?.decisionChanged);
  const a = (w.patch as { autoscaling: { lastChangeTime: string; reason: string } }).autoscaling;
  assert.equal(a.lastChangeTime, '2025-03-01T12:00:00Z');
  assert.equal(a.reason, 'scale-up cooldown: 10.0s left');
});

test('a size the signals ask for but a cooldown blocks is recorded as desired', () => {
  const stored: IngestPipelineStatus = {
    autoscaling: { current: small, desired: small, signals: { decision: 'HoldSteady' } },
  };
  const blocked: Decision = { ...hold('HoldUpCooldown', 'scale-up cooldown: 10.0s left'), desired: bigger };
  const w = statusWrite(input(), blocked, stored, NOW);
  assert.ok(w);
  const a = (w.patch as { autoscaling: { current: Sizes; desired: Sizes } }).autoscaling;
  assert.deepEqual(a.current, small);
  assert.deepEqual(a.desired, bigger);
});

test('the rate and backlog columns are refreshed at most once a minute, and only when they moved', () => {
  const steady = hold('HoldSteady', 'backlog 5000 within targets; holding 1 flushers × 1 pods, pool 4');
  const first = statusWrite(input(), steady, undefined, 0);
  assert.ok(first);
  const stored = merged({}, first.patch);
  const moved = (now: number) =>
    input({ now, signals: { ...input().signals, workers: { ...workers, backlog: 4000, ingestRate: 900 } } });

  assert.equal(statusWrite(moved(NOW + METRICS_REFRESH_MS - 1), steady, stored, NOW), undefined);
  assert.equal(statusWrite(input({ now: NOW + METRICS_REFRESH_MS }), steady, stored, NOW), undefined);
  assert.deepEqual(statusWrite(moved(NOW + METRICS_REFRESH_MS), steady, stored, NOW), {
    decisionChanged: false,
    patch: { ingestRate: 900, backlog: 4000, oldestUnflushedSeconds: 12.3 },
  });
});

test('each size change is an Event that names the sizes before and after and why', () => {
  assert.deepEqual(decisionEvent(input(), scaleUp, true), {
    type: 'Normal',
    reason: 'ScaledUp',
    message:
      '1 flushers × 1 pods, pool 4 → 2 flushers × 1 pods, pool 4: oldest unflushed 12.3s above target 10.0s; adding a flusher',
  });
  const down: Decision = { ...scaleUp, next: small, desired: small, direction: 'down', code: 'ScaleDown', reason: 'r' };
  const noBouncer = input({ current: bigger, limits: { ...limits, pgbouncer: false } });
  assert.deepEqual(decisionEvent(noBouncer, down, true), {
    type: 'Normal',
    reason: 'ScaledDown',
    message: '2 flushers × 1 pods → 1 flushers × 1 pods: r',
  });
});

test('backing off from a saturated database is a Warning', () => {
  const backOff: Decision = {
    next: small,
    desired: small,
    direction: 'down',
    rung: 'flushers',
    code: 'BackOff',
    reason: '3 sessions wait for locks; backing off one step to 1 flushers × 1 pods, pool 4',
  };
  const e = decisionEvent(input({ current: bigger }), backOff, true);
  assert.equal(e?.type, 'Warning');
  assert.equal(e?.reason, 'BackedOff');
  assert.match(e?.message ?? '', /^2 flushers × 1 pods, pool 4 → 1 flushers × 1 pods, pool 4: 3 sessions wait/);
});

test('holding for missing signals warns once, not every round; other holds are silent', () => {
  const missing = hold('HoldSignalsMissing', 'holding 1 flushers × 1 pods, pool 4: signals missing: PostgreSQL');
  assert.deepEqual(decisionEvent(input(), missing, true), {
    type: 'Warning',
    reason: 'AutoscalingHeld',
    message: 'holding 1 flushers × 1 pods, pool 4: signals missing: PostgreSQL',
  });
  assert.equal(decisionEvent(input(), missing, false), undefined);
  assert.equal(decisionEvent(input(), hold('HoldSteady', 'steady'), true), undefined);
});

test('turning autoscaling off is announced', () => {
  assert.deepEqual(DISABLED_EVENT, {
    type: 'Normal',
    reason: 'AutoscalingDisabled',
    message: 'autoscaling.enabled is false: sizes follow the spec',
  });
});

test('the loop compares with its own last write until the cache shows a newer object than the one it wrote over', () => {
  const own: IngestPipelineStatus = { autoscaling: { current: bigger, reason: 'own write' } };
  const cached = (rv: string): IngestPipeline & KubeObject =>
    ({ metadata: { name: 'fleet', resourceVersion: rv }, status: { autoscaling: { reason: 'cache' } } }) as never;
  const rec = { written: { overRv: '41', status: own }, lastMetricsWriteMs: 0 };
  assert.equal(storedStatus(cached('41'), rec), own);
  assert.equal(storedStatus(cached('42'), rec)?.autoscaling?.reason, 'cache');
  assert.equal(storedStatus(cached('41'), { lastMetricsWriteMs: 0 })?.autoscaling?.reason, 'cache');
});

test('only PgBouncers running another pool size are resized', () => {
  const bouncer = (host: string, defaultPoolSize: number): Bouncer => ({
    target: { host, port: 6432, database: 'pgbouncer', user: 'u', password: 'p', ssl: false },
    reading: { clWaiting: 0, maxWaitMs: 0, svActive: 0, svIdle: 0, defaultPoolSize },
  });
  const all = [bouncer('10.0.0.1', 6), bouncer('10.0.0.2', 4), bouncer('10.0.0.3', 8)];
  assert.deepEqual(
    bouncersToResize(all, 6).map((b) => b.target.host),
    ['10.0.0.2', '10.0.0.3'],
  );
});
