// The Deployment controller's rollout steps, and the template hash that tells its pods' revisions apart.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type PodView, planDeployment } from './deployment-controller.ts';
import { templateHash } from './workloads.ts';

const pod = (name: string, fresh: boolean, ready: boolean, created = name): PodView => ({
  name,
  fresh,
  ready,
  created,
});
const rolling = (maxSurge: number | string, maxUnavailable: number | string) => ({
  type: 'RollingUpdate',
  rollingUpdate: { maxSurge, maxUnavailable },
});

/** Plays a rollout to the end: new pods become ready at once; returns the number of pods at each step. */
function rollout(replicas: number, strategy: ReturnType<typeof rolling>) {
  let pods = Array.from({ length: replicas }, (_, i) => pod(`old-${i}`, false, true));
  const sizes: number[] = [];
  const readyCounts: number[] = [];
  for (let step = 0; step < 50; step++) {
    const plan = planDeployment({ replicas, strategy, active: pods, terminating: 0 });
    if (plan.create === 0 && plan.remove.length === 0) break;
    pods = pods.filter((p) => !plan.remove.includes(p.name));
    readyCounts.push(pods.filter((p) => p.ready).length);
    for (let i = 0; i < plan.create; i++) pods.push(pod(`new-${step}-${i}`, true, false, `z${step}`));
    sizes.push(pods.length);
    // The kubelet's part between two syncs: the new pods pass their readiness probe.
    pods = pods.map((p) => ({ ...p, ready: true }));
  }
  return { pods, sizes, readyCounts };
}

describe('planDeployment', () => {
  test('a new Deployment gets every replica at once; scale-down removes unready, then oldest pods', () => {
    assert.deepEqual(planDeployment({ replicas: 3, active: [], terminating: 0 }).create, 3);
    const plan = planDeployment({
      replicas: 1,
      active: [pod('a', true, true, '1'), pod('b', true, false, '2'), pod('c', true, true, '0')],
      terminating: 0,
    });
    assert.deepEqual(plan, { create: 0, remove: ['b', 'c'], maxUnavailable: 0 });
  });

  test('maxSurge 1, maxUnavailable 0 (the worker Deployment): one new pod at a time, never fewer ready', () => {
    const { pods, sizes, readyCounts } = rollout(2, rolling(1, 0));
    assert.ok(pods.every((p) => p.fresh) && pods.length === 2);
    assert.ok(Math.max(...sizes) <= 3, `at most replicas + 1 pods: ${sizes}`);
    assert.ok(Math.min(...readyCounts) >= 2, `never fewer than 2 ready: ${readyCounts}`);
  });

  test('an old pod is kept until its replacement is ready', () => {
    const plan = planDeployment({
      replicas: 1,
      strategy: rolling(1, 0),
      active: [pod('old', false, true), pod('new', true, false)],
      terminating: 0,
    });
    assert.deepEqual(plan.remove, []);
    assert.equal(plan.create, 0);
  });

  test('a broken old pod goes before a healthy one once the surge pod is ready', () => {
    const plan = planDeployment({
      replicas: 2,
      strategy: rolling(1, 0),
      active: [pod('old-ok', false, true, '1'), pod('old-crashing', false, false, '2'), pod('new', true, true, '3')],
      terminating: 0,
    });
    assert.equal(plan.create, 0);
    assert.deepEqual(plan.remove, ['old-crashing']);
  });

  test('maxSurge 0, maxUnavailable 1: delete first, then replace', () => {
    const { pods, sizes } = rollout(3, rolling(0, 1));
    assert.ok(pods.every((p) => p.fresh) && pods.length === 3);
    assert.ok(Math.max(...sizes) <= 3, `never more than replicas: ${sizes}`);
  });

  test('25% defaults and Recreate', () => {
    const { pods } = rollout(4, rolling('25%', '25%'));
    assert.ok(pods.every((p) => p.fresh) && pods.length === 4);
    const recreate = { type: 'Recreate' };
    const old = [pod('a', false, true), pod('b', false, true)];
    assert.deepEqual(planDeployment({ replicas: 2, strategy: recreate, active: old, terminating: 0 }).remove, [
      'a',
      'b',
    ]);
    assert.equal(planDeployment({ replicas: 2, strategy: recreate, active: [], terminating: 2 }).create, 0);
    assert.equal(planDeployment({ replicas: 2, strategy: recreate, active: [], terminating: 0 }).create, 2);
  });
});

test('templateHash changes with the template and only with it', () => {
  const t = { metadata: { annotations: { 'mqtt2pg.io/config-hash': 'a' } }, spec: { containers: [] } };
  assert.equal(templateHash(t), templateHash(structuredClone(t)));
  assert.notEqual(
    templateHash(t),
    templateHash({ ...t, metadata: { annotations: { 'mqtt2pg.io/config-hash': 'b' } } }),
  );
  assert.match(templateHash(t), /^[0-9a-f]{10}$/);
});
