// The Job controller's decisions: one pod at a time, a new one after a failure with back-off, finished on the
// first success or after more than backoffLimit failures.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type JobPodView, jobBackoffMs, planJob } from './job-controller.ts';

const pod = (name: string, phase: string, o: Partial<JobPodView> = {}): JobPodView => ({
  name,
  phase,
  active: true,
  ready: false,
  ...o,
});

test('a new Job gets one pod; while it runs, no other', () => {
  assert.deepEqual(planJob({ backoffLimit: 6, pods: [], now: 0 }), {
    create: true,
    remove: [],
    counts: { active: 0, ready: 0, succeeded: 0, failed: 0 },
  });
  const running = planJob({ backoffLimit: 6, pods: [pod('a', 'Running', { ready: true })], now: 0 });
  assert.equal(running.create, false);
  assert.deepEqual(running.counts, { active: 1, ready: 1, succeeded: 0, failed: 0 });
  // A terminating pod still holds its volume: the next one waits for it.
  assert.equal(planJob({ backoffLimit: 6, pods: [pod('a', 'Running', { active: false })], now: 0 }).create, false);
});

test('after a failed pod, the next one comes after the back-off', () => {
  const failed = [pod('a', 'Failed', { finishedAt: 10_000 }), pod('b', 'Failed', { finishedAt: 20_000 })];
  assert.equal(jobBackoffMs(2), 2000);
  const early = planJob({ backoffLimit: 6, pods: failed, now: 21_000 });
  assert.equal(early.create, false);
  assert.equal(early.retryInMs, 1000);
  assert.equal(planJob({ backoffLimit: 6, pods: failed, now: 22_000 }).create, true);
  assert.deepEqual([1, 2, 3, 5, 9].map(jobBackoffMs), [1000, 2000, 4000, 10_000, 10_000]);
});

test('the first succeeded pod completes the Job; more failures than backoffLimit fail it', () => {
  const done = planJob({ backoffLimit: 6, pods: [pod('a', 'Failed'), pod('b', 'Succeeded')], now: 0 });
  assert.equal(done.finish?.type, 'Complete');
  assert.deepEqual(done.counts, { active: 0, ready: 0, succeeded: 1, failed: 1 });
  const out = planJob({ backoffLimit: 1, pods: [pod('a', 'Failed'), pod('b', 'Failed'), pod('c', 'Running')], now: 0 });
  assert.equal(out.finish?.type, 'Failed');
  assert.equal(out.finish?.reason, 'BackoffLimitExceeded');
  assert.deepEqual(out.remove, ['c']);
  assert.equal(planJob({ backoffLimit: 1, pods: [pod('a', 'Failed')], now: 1e9 }).finish, undefined);
});
