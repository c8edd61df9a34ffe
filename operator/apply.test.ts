import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSubset, needsApply, orphanedChildren, withAppliedHash } from './apply.ts';
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
