import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DRAIN_FINALIZER, deletionStep, FORCE_DELETE_ANNOTATION } from './deletion.ts';
import type { KubeObject } from './runtime/kube.ts';

const pipeline = (meta: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  metadata: { name: 'p', namespace: 'ns', ...meta },
});
const deleting = (meta: Partial<KubeObject['metadata']> = {}) =>
  pipeline({ deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: [DRAIN_FINALIZER], ...meta });
const deployment = (replicas: number) => ({ kind: 'Deployment', name: 'p-worker', replicas });

test('a live pipeline without the finalizer gets it; one that has it is left as it is', () => {
  assert.deepEqual(deletionStep(pipeline(), { pods: 2, walVolumes: 0 }), { step: 'reconcile', addFinalizer: true });
  assert.deepEqual(deletionStep(pipeline({ finalizers: ['other.io/x'] }), { pods: 0, walVolumes: 0 }), {
    step: 'reconcile',
    addFinalizer: true,
  });
  assert.deepEqual(
    deletionStep(pipeline({ finalizers: ['other.io/x', DRAIN_FINALIZER] }), { pods: 2, walVolumes: 0 }),
    {
      step: 'reconcile',
      addFinalizer: false,
    },
  );
});

test('deleting: workers still scaled up are scaled to 0 first, whatever pods exist', () => {
  for (const [kind, pods] of [
    ['Deployment', 2],
    ['StatefulSet', 0],
  ] as const) {
    const s = deletionStep(deleting(), { workload: { kind, name: 'p-worker', replicas: 3 }, pods, walVolumes: 0 });
    assert.equal(s.step, 'scaleDown');
    assert.ok(s.step === 'scaleDown');
    assert.equal(s.kind, kind);
    assert.equal(s.name, 'p-worker');
    assert.equal(s.reason, 'Draining');
    assert.match(s.message, new RegExp(`${kind} p-worker scaled to 0.*waiting for ${pods} worker pods to drain`));
  }
});

test('deleting: scaled to 0 with pods left waits and says for how many', () => {
  const one = deletionStep(deleting(), { workload: deployment(0), pods: 1, walVolumes: 0 });
  assert.equal(one.step, 'wait');
  assert.ok(one.step === 'wait');
  assert.equal(one.reason, 'Draining');
  assert.match(one.message, /waiting for 1 worker pod to drain .*mqtt2pg\.io\/force-delete=true/);
  // The workload itself already gone (deleted by hand, or the namespace is going): its pods still count.
  assert.match(
    (deletionStep(deleting(), { pods: 2, walVolumes: 0 }) as { message: string }).message,
    /waiting for 2 worker pods to drain/,
  );
});

test('deleting: once no worker pod is left the finalizer goes', () => {
  assert.deepEqual(deletionStep(deleting(), { workload: deployment(0), pods: 0, walVolumes: 0 }), {
    step: 'release',
    reason: 'Drained',
    message: 'every worker pod and WAL volume has drained; deleting the children',
  });
  assert.equal(deletionStep(deleting(), { pods: 0, walVolumes: 0 }).step, 'release');
});

test('deleting with the force annotation releases at once; any other value does not', () => {
  const forced = deletionStep(deleting({ annotations: { [FORCE_DELETE_ANNOTATION]: 'true' } }), {
    workload: deployment(2),
    pods: 2,
    walVolumes: 0,
  });
  assert.equal(forced.step, 'release');
  assert.ok(forced.step === 'release');
  assert.equal(forced.reason, 'ForceDeleted');
  assert.match(forced.message, /without waiting for 2 worker pods/);
  const notForced = deletionStep(deleting({ annotations: { [FORCE_DELETE_ANNOTATION]: 'yes' } }), {
    workload: deployment(0),
    pods: 2,
    walVolumes: 0,
  });
  assert.equal(notForced.step, 'wait');
});

test('deleting without our finalizer (removed already, or another finalizer holds it): nothing to do', () => {
  assert.deepEqual(
    deletionStep(deleting({ finalizers: ['other.io/x'] }), { workload: deployment(2), pods: 2, walVolumes: 0 }),
    {
      step: 'forget',
    },
  );
  assert.deepEqual(deletionStep(deleting({ finalizers: undefined }), { pods: 0, walVolumes: 0 }), { step: 'forget' });
});

test('deleting: once the worker pods are gone, the WAL volumes they left are drained before the finalizer goes', () => {
  const s = deletionStep(deleting(), {
    workload: { kind: 'StatefulSet', name: 'p-worker', replicas: 0 },
    pods: 0,
    walVolumes: 3,
  });
  assert.equal(s.step, 'drainVolumes');
  assert.ok(s.step === 'drainVolumes');
  assert.equal(s.reason, 'Draining');
  assert.match(s.message, /draining 3 WAL volumes the workers left .*mqtt2pg\.io\/force-delete=true/);
  // Pods first: a volume is drained by a Job only once no worker holds it.
  assert.equal(deletionStep(deleting(), { pods: 1, walVolumes: 3 }).step, 'wait');
  const forced = deletionStep(deleting({ annotations: { [FORCE_DELETE_ANNOTATION]: 'true' } }), {
    pods: 0,
    walVolumes: 1,
  });
  assert.equal(forced.step, 'release');
  assert.match((forced as { message: string }).message, /1 WAL volume to drain/);
});
