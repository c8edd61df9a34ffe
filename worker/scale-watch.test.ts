import assert from 'node:assert/strict';
import { test } from 'node:test';
import { desiredFlushers } from './scale-watch.ts';

const t = { namespace: 'iot', name: 'p', minFlushers: 1, maxFlushers: 8 };
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
