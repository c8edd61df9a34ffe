import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipeline } from '../test/lib/pipelines.ts';
import { clamp, clampCount, clampSizes, effectiveSizes, sizeBounds } from './sizes.ts';

test('clamp keeps a value within its bounds', () => {
  const b = { min: 2, max: 8 };
  assert.equal(clamp(5, b), 5);
  assert.equal(clamp(1, b), 2);
  assert.equal(clamp(9, b), 8);
  assert.equal(clamp(2, { min: 3, max: 3 }), 3);
});

test('a count written by someone else is clamped when it is a whole number, else ignored', () => {
  const b = { min: 1, max: 4 };
  assert.equal(clampCount(3, b), 3);
  assert.equal(clampCount(0, b), 1);
  assert.equal(clampCount(40, b), 4);
  for (const v of [undefined, null, '3', 2.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.equal(clampCount(v, b), undefined, String(v));
  }
});

test('the bounds come from the spec: flushers from flusher.*, pods and pool from autoscaling.*', () => {
  const { r } = pipeline({
    replicas: 2,
    flusher: { minFlushers: 2, maxFlushers: 6 },
    sink: {
      postgres: { host: 'pg', database: 'd', credentialsSecretRef: { name: 'pg' } },
      pgbouncer: { poolSize: 12 },
    },
    autoscaling: { enabled: true, maxReplicas: 5, minPoolSize: 4 },
  });
  assert.deepEqual(sizeBounds(r), {
    replicas: { min: 2, max: 5 },
    flushers: { min: 2, max: 6 },
    poolSize: { min: 4, max: 12 },
  });
  assert.deepEqual(clampSizes({ replicas: 9, flushers: 1, poolSize: 8 }, sizeBounds(r)), {
    replicas: 5,
    flushers: 2,
    poolSize: 8,
  });
});

test('sizes follow the spec, or the autoscaler within the spec bounds', () => {
  const { p, r } = pipeline({ replicas: 2, flusher: { flushers: 3 } });
  assert.deepEqual(effectiveSizes(p, r), { replicas: 2, flushers: 3, poolSize: 10 });
  const auto = pipeline({
    replicas: 2,
    autoscaling: { enabled: true, maxReplicas: 4 },
    flusher: { flushers: 3, maxFlushers: 6 },
  });
  auto.p.status = { autoscaling: { current: { replicas: 9, flushers: 5, poolSize: 10 } } };
  assert.deepEqual(effectiveSizes(auto.p, auto.r), { replicas: 4, flushers: 5, poolSize: 10 });
  p.status = { autoscaling: { current: { replicas: 9 } } };
  assert.equal(effectiveSizes(p, r).replicas, 2, 'ignored while autoscaling is off');
});

test('with autoscaling on, status values below the bounds are raised and unreadable ones fall back to the spec', () => {
  const { p, r } = pipeline({
    replicas: 3,
    autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 6 },
    flusher: { flushers: 4, minFlushers: 2, maxFlushers: 8 },
  });
  p.status = { autoscaling: { current: { replicas: 0, flushers: 1, poolSize: 2.5 } } };
  assert.deepEqual(effectiveSizes(p, r), { replicas: 2, flushers: 2, poolSize: 10 });
  p.status = { autoscaling: {} };
  assert.deepEqual(effectiveSizes(p, r), { replicas: 3, flushers: 4, poolSize: 10 }, 'no current sizes yet');
  delete p.status;
  assert.deepEqual(effectiveSizes(p, r), { replicas: 3, flushers: 4, poolSize: 10 }, 'no status yet');
});

test('with autoscaling off, the spec sizes hold whatever the status says', () => {
  const { p, r } = pipeline({
    replicas: 2,
    autoscaling: { enabled: false, minReplicas: 1, maxReplicas: 4 },
    flusher: { flushers: 3, maxFlushers: 6 },
  });
  p.status = { autoscaling: { current: { replicas: 40, flushers: 40, poolSize: 400 } } };
  assert.deepEqual(effectiveSizes(p, r), { replicas: 2, flushers: 3, poolSize: 10 });
});
