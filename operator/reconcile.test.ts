// The decisions a reconcile takes before anything is rendered: the check step (the loader's rules) and the
// sizes in effect (the spec's, or the autoscaler's within bounds).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPipeline } from '../api/check.ts';
import { effectiveSizes } from '../api/sizes.ts';
import { pipeline } from '../test/lib/pipelines.ts';

test('validation uses the loader’s checks and names the field', () => {
  const { p } = pipeline();
  assert.ok('resolved' in checkPipeline(p));
  const bad = structuredClone(p);
  bad.spec.flusher = { flushers: 12 };
  const out = checkPipeline(bad);
  assert.ok('problem' in out);
  assert.equal(out.problem.reason, 'InvalidSpec');
  assert.match(out.problem.message, /spec\.flusher\.flushers: must lie within/);
  const longName = structuredClone(p);
  longName.metadata.name = 'x'.repeat(50);
  const named = checkPipeline(longName);
  assert.ok('problem' in named && named.problem.reason === 'InvalidName');
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
