import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quantile } from './histogram.ts';

const snap = (counts: Array<[number, number]>) => new Map(counts);

test('quantiles interpolate within the bucket of the difference between two snapshots', () => {
  const before = snap([
    [0.1, 10],
    [0.2, 10],
    [Number.POSITIVE_INFINITY, 10],
  ]);
  // 100 new observations: 50 at ≤ 0.1 s, 50 in (0.1, 0.2].
  const after = snap([
    [0.1, 60],
    [0.2, 110],
    [Number.POSITIVE_INFINITY, 110],
  ]);
  assert.equal(quantile(before, after, 0.5), 0.1);
  assert.ok(Math.abs((quantile(before, after, 0.99) ?? 0) - 0.198) < 1e-9);
  assert.equal(quantile(after, after, 0.5), null, 'no observations, no quantile');
});

test('a quantile in the +Inf bucket reports the last finite bound', () => {
  const after = snap([
    [0.1, 1],
    [Number.POSITIVE_INFINITY, 10],
  ]);
  assert.equal(quantile(new Map(), after, 0.99), 0.1);
});
