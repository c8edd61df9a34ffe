import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changeEvents, isSubset, needsApply, orphanedChildren, ownershipConflict, withAppliedHash } from './apply.ts';
import type { KubeObject } from './runtime/kube.ts';

const desired: KubeObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'a', namespace: 'ns', labels: { x: '1' } },
  data: { k: 'v' },
};

test('the API server’s defaults do not count as drift; edited fields and list lengths do', () => {
  assert.ok(isSubset({ a: 1, b: [{ c: 2 }] }, { a: 1, z: 9, b: [{ c: 2, d: 3 }] }));
  assert.ok(!isSubset({ a: 1 }, { a: 2 }));
  assert.ok(!isSubset({ b: [1, 2] }, { b: [1, 2, 3] }));
  assert.ok(!isSubset({ b: { c: 1 } }, { b: null }));
});

test('an unchanged live object needs no apply; a hand edit or a new render does', () => {
  const stamped = withAppliedHash(desired);
  const live: KubeObject = {
    ...structuredClone(stamped),
    metadata: { ...structuredClone(stamped.metadata), resourceVersion: '7', uid: 'u', managedFields: [] },
  };
  assert.equal(needsApply(stamped, live), false);
  assert.equal(needsApply(stamped, undefined), true);
  assert.equal(needsApply(stamped, { ...live, data: { k: 'edited' } }), true, 'hand edit');
  assert.equal(needsApply(withAppliedHash({ ...desired, data: { k: 'new' } }), live), true, 'new render');
  const removedLabel = structuredClone(live);
  delete removedLabel.metadata.labels?.x;
  assert.equal(needsApply(stamped, removedLabel), true, 'label removed by hand');
});

test('children no longer rendered are pruned, but only those this pipeline controls', () => {
  const owned = (kind: string, name: string, uid = 'p1'): KubeObject => ({
    kind,
    metadata: {
      name,
      ownerReferences: [{ apiVersion: 'x', kind: 'IngestPipeline', name: 'p', uid, controller: true }],
    },
  });
  const live = [owned('ConfigMap', 'a'), owned('Deployment', 'p-pgbouncer'), owned('Service', 'other', 'p2')];
  assert.deepEqual(
    orphanedChildren('p1', [desired], live).map((o) => `${o.kind}/${o.metadata.name}`),
    ['Deployment/p-pgbouncer'],
  );
});

test('an object of a child name is ours only with a controller reference to the pipeline', () => {
  const obj = (ownerReferences?: object[]) =>
    ({ kind: 'ConfigMap', metadata: { name: 'p-worker-config', namespace: 'ns', ownerReferences } }) as never;
  assert.equal(ownershipConflict('p1', undefined), undefined, 'absent: create it');
  assert.equal(
    ownershipConflict('p1', obj([{ uid: 'p1', controller: true, kind: 'IngestPipeline', name: 'p' }])),
    undefined,
  );
  const foreign = ownershipConflict('p1', obj());
  assert.match(
    foreign?.message ?? '',
    /^ConfigMap p-worker-config already exists and is not owned by this pipeline \(it has no controller\).*kubectl delete configmap p-worker-config -n ns/,
  );
  const other = ownershipConflict('p1', obj([{ uid: 'x', controller: true, kind: 'Deployment', name: 'web' }]));
  assert.match(other?.message ?? '', /controlled by Deployment web/);
  const notController = ownershipConflict(
    'p1',
    obj([{ uid: 'p1', controller: false, kind: 'IngestPipeline', name: 'p' }]),
  );
  assert.ok(notController, 'an owner reference without controller is not control');
});

test('one Event per kind of change names every child it covers; unchanged children make none', () => {
  const events = changeEvents([
    { kind: 'ConfigMap', name: 'a', action: 'Created' },
    { kind: 'Secret', name: 'b', action: 'Noop' },
    { kind: 'StatefulSet', name: 'c', action: 'Patched' },
    { kind: 'Service', name: 'd', action: 'Created' },
  ]);
  assert.deepEqual(events, [
    { reason: 'Created', message: 'created ConfigMap a, Service d' },
    { reason: 'Updated', message: 'updated StatefulSet c' },
  ]);
  assert.deepEqual(changeEvents([{ kind: 'Secret', name: 'b', action: 'Noop' }]), []);
});
