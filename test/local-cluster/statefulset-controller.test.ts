// The StatefulSet controller's steps: missing ordinals created at once, scale-down by ordinal, and a rolling
// update that replaces one pod at a time, highest ordinal first, each once the pods above it are ready.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planStatefulSet, type SetPodView } from './statefulset-controller.ts';

const pod = (name: string, revision = 'new', ready = true, active = true): SetPodView => ({
  name,
  revision,
  ready,
  active,
});
const plan = (replicas: number, pods: SetPodView[], onDelete = false) =>
  planStatefulSet({ name: 'w', replicas, revision: 'new', onDelete, pods });

describe('planStatefulSet', () => {
  test('every missing ordinal is created at once (Parallel), a terminating pod still holds its name', () => {
    assert.deepEqual(plan(3, []), { create: [0, 1, 2], remove: [] });
    assert.deepEqual(plan(3, [pod('w-1', 'new', false, false)]).create, [0, 2]);
  });

  test('scale-down deletes every active pod at or above the new count', () => {
    const p = plan(1, [pod('w-0'), pod('w-1'), pod('w-2'), pod('w-3', 'new', true, false)]);
    assert.deepEqual(p, { create: [], remove: ['w-1', 'w-2'] });
  });

  test('a rolling update replaces the highest-ordinal old pod, one per step, each once the one above is ready', () => {
    let pods = [pod('w-0', 'old'), pod('w-1', 'old'), pod('w-2', 'old')];
    const order: string[] = [];
    for (let step = 0; step < 10; step++) {
      const p = plan(3, pods);
      assert.ok(p.remove.length <= 1, `one pod at a time: ${p.remove}`);
      const [gone] = p.remove;
      if (!gone) break;
      order.push(gone);
      // The kubelet and the next step: the pod is recreated on the new revision, not ready yet, which holds
      // the rollout until it passes its probe.
      pods = pods.map((x) => (x.name === gone ? pod(gone, 'new', false) : x));
      assert.deepEqual(plan(3, pods).remove, [], 'no deletion while a pod is not ready');
      pods = pods.map((x) => ({ ...x, ready: true }));
    }
    assert.deepEqual(order, ['w-2', 'w-1', 'w-0']);
  });

  test('pods not ready (PostgreSQL down): the top old pod is still replaced, then the update waits for it', () => {
    // As kube-controller-manager does it: readiness gates the next step, not the first deletion.
    assert.deepEqual(plan(2, [pod('w-0', 'old', false), pod('w-1', 'old', false)]).remove, ['w-1']);
    assert.deepEqual(plan(2, [pod('w-0', 'old', false), pod('w-1', 'new', false)]).remove, []);
    assert.deepEqual(plan(2, [pod('w-0', 'old', false), pod('w-1', 'new', true)]).remove, ['w-0']);
    assert.deepEqual(plan(3, [pod('w-0', 'old'), pod('w-1', 'old', false), pod('w-2')]).remove, ['w-1']);
  });

  test('no update while the pod above is missing or terminating, and none at all with OnDelete', () => {
    assert.deepEqual(plan(3, [pod('w-0', 'old'), pod('w-1', 'old')]).remove, []);
    assert.deepEqual(plan(2, [pod('w-0', 'old'), pod('w-1', 'old', true, false)]).remove, []);
    assert.deepEqual(plan(2, [pod('w-0', 'old'), pod('w-1', 'old')], true).remove, []);
  });
});
