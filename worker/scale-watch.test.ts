import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IngestPipeline } from '../api/types.ts';
import { apiPipeline, type SpecOverrides } from '../test/lib/pipelines.ts';
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
  const stored = (spec: SpecOverrides, status?: IngestPipeline['status'], deleting = false): IngestPipeline => {
    const o = apiPipeline('iot', 'p', spec);
    if (status) o.status = status;
    if (deleting) o.metadata.deletionTimestamp = '2026-11-30T00:00:00Z';
    return o;
  };
  assert.equal(identityLeaving(stored({ replicas: 2 }), 'p-worker-1'), false, 'ordinal 1 of 2 stays');
  assert.equal(identityLeaving(stored({ replicas: 1 }), 'p-worker-1'), true, 'ordinal 1 of 1 goes');
  assert.equal(identityLeaving(stored({}), 'p-worker-1'), true, 'replicas default to 1');
  assert.equal(identityLeaving(stored({ replicas: 3 }), 'p-worker-3'), true);
  const auto = (replicas: number | undefined) =>
    stored(
      { replicas: 1, autoscaling: { enabled: true, maxReplicas: 4 } },
      replicas === undefined ? undefined : { autoscaling: { current: { replicas, flushers: 2, poolSize: 10 } } },
    );
  assert.equal(identityLeaving(auto(3), 'p-worker-1'), false, "the autoscaler's replicas win while autoscaling is on");
  assert.equal(identityLeaving(auto(9), 'p-worker-3'), false, 'clamped to maxReplicas 4');
  assert.equal(identityLeaving(auto(undefined), 'p-worker-1'), true, 'no autoscaler count: the spec');
  assert.equal(identityLeaving(stored({ replicas: 5 }, undefined, true), 'p-worker-1'), true, 'pipeline deleted');
  assert.equal(identityLeaving(stored({ replicas: 1 }), 'p-worker-7f9c-abcde'), false, 'not an ordinal');
  assert.equal(identityLeaving(stored({ replicas: 1 }), 'other-worker-3'), false);
});
