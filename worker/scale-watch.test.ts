import assert from 'node:assert/strict';
import { test } from 'node:test';
import { desiredFlushers, identityLeaving } from './scale-watch.ts';

const t = {
  namespace: 'iot',
  name: 'p',
  minFlushers: 1,
  maxFlushers: 8,
  minReplicas: 1,
  maxReplicas: 4,
  instance: 'p-worker-1',
};
const obj = (enabled: boolean | undefined, flushers: unknown) => ({
  spec: { autoscaling: enabled === undefined ? undefined : { enabled } },
  status: { autoscaling: { current: { flushers } } },
});

test('the autoscaler count applies only when autoscaling is on, clamped to the flusher bounds', () => {
  assert.equal(desiredFlushers(obj(true, 4), t), 4);
  assert.equal(desiredFlushers(obj(true, 40), t), 8);
  assert.equal(desiredFlushers(obj(false, 4), t), undefined);
  assert.equal(desiredFlushers(obj(undefined, 4), t), undefined);
  assert.equal(desiredFlushers(obj(true, undefined), t), undefined);
  assert.equal(desiredFlushers(obj(true, 0), t), undefined);
  assert.equal(desiredFlushers(obj(true, '3'), t), undefined);
  assert.equal(desiredFlushers({ spec: { autoscaling: { enabled: true } } }, t), undefined);
});

test('a StatefulSet worker whose ordinal is scaled away, or whose pipeline is deleted, is leaving for good', () => {
  assert.equal(identityLeaving({ spec: { replicas: 2 } }, t), false, 'ordinal 1 of 2 stays');
  assert.equal(identityLeaving({ spec: { replicas: 1 } }, t), true, 'ordinal 1 of 1 goes');
  assert.equal(identityLeaving({}, t), true, 'replicas default to 1');
  assert.equal(identityLeaving({ spec: { replicas: 3 } }, { ...t, instance: 'p-worker-3' }), true);
  const auto = (replicas: unknown) => ({
    spec: { replicas: 1, autoscaling: { enabled: true } },
    status: { autoscaling: { current: { replicas } } },
  });
  assert.equal(identityLeaving(auto(3), t), false, "the autoscaler's replicas win while autoscaling is on");
  assert.equal(identityLeaving(auto(9), { ...t, instance: 'p-worker-3' }), false, 'clamped to maxReplicas 4');
  assert.equal(identityLeaving(auto(undefined), t), true, 'no autoscaler count: the spec');
  assert.equal(
    identityLeaving({ metadata: { deletionTimestamp: '2026-11-30T00:00:00Z' }, spec: { replicas: 5 } }, t),
    true,
  );
  assert.equal(
    identityLeaving({ spec: { replicas: 1 } }, { ...t, instance: 'p-worker-7f9c-abcde' }),
    false,
    'not an ordinal',
  );
  assert.equal(identityLeaving({ spec: { replicas: 1 } }, { ...t, instance: 'other-worker-3' }), false);
});
