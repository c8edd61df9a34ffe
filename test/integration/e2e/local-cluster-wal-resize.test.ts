// Resizing the WAL of a running Persistent pipeline (docs/day-2.md, "Resize the WAL"): a bigger
// wal.storage.size grows every worker's PVC and re-creates the StatefulSet with the new volume template while
// its pods keep running (operator/volume-resize.ts); a smaller one is refused with Degraded and changes nothing;
// with a StorageClass that does not allow expansion, a Warning names it and only new ordinals get the new size.
// The pod runner plays the StatefulSet controller (adoption of orphaned pods), the garbage collector (the
// orphan finalizer) and a provisioner that binds and expands claims, so the API server's own checks on a PVC
// resize (bound claim, StorageClass with allowVolumeExpansion) apply.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1PersistentVolumeClaim, V1StatefulSet } from '@kubernetes/client-node';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, condition } from '../../lib/kube.ts';
import { LocalClusterE2E, names, podReady } from './local-cluster-setup.ts';

const c = new LocalClusterE2E();
const { id, name } = c.target;
const pipeline = `${name}-rs`;
const storageClass = `mqtt2pg-expandable-${id}`;
const fixedClass = `mqtt2pg-fixed-${id}`;

const wal = (size: string, storageClassName = storageClass) => ({
  storage: { type: 'Persistent' as const, size, storageClassName },
});
const templateSize = (s: V1StatefulSet) => s.spec?.volumeClaimTemplates?.[0]?.spec?.resources?.requests?.storage;
const requested = (claims: V1PersistentVolumeClaim[]) =>
  Object.fromEntries(claims.map((x) => [x.metadata?.name, x.spec?.resources?.requests?.storage]));
const storageClassDoc = (name: string, allowVolumeExpansion: boolean) => ({
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: { name },
  provisioner: 'mqtt2pg.io/local-test',
  allowVolumeExpansion,
});
const claimsOf = async (pipelineName: string) =>
  (
    await c.core.listNamespacedPersistentVolumeClaim({
      namespace: c.ns,
      labelSelector: `mqtt2pg.io/pipeline=${pipelineName}`,
    })
  ).items;

describe('local cluster: resizing the WAL volumes of a running Persistent pipeline', { timeout: 600_000 }, () => {
  c.hooks();

  test('a bigger wal.storage.size grows the PVCs and keeps the pods; a smaller one is refused', async (t) =>
    c.scenario(t, async () => {
      await apply(c.ns, storageClassDoc(storageClass, true));
      try {
        await apply(c.ns, c.pipeline({}, { name: pipeline, wal: wal('1Gi') }));
        await c.awaitPipelineReady(1, pipeline);
        const set = `${pipeline}-worker`;
        const claims = () => claimsOf(pipeline);
        const claimNames = [`wal-${set}-0`, `wal-${set}-1`];
        assert.deepEqual(requested(await claims()), Object.fromEntries(claimNames.map((n) => [n, '1Gi'])));
        const oldSet = await c.apps.readNamespacedStatefulSet({ name: set, namespace: c.ns });
        const pods = await c.workerPods(pipeline);
        const uids = Object.fromEntries(pods.map((p) => [p.metadata?.name, p.metadata?.uid]));
        assert.deepEqual(Object.keys(uids).sort(), [`${set}-0`, `${set}-1`]);

        // Messages in flight across the resize: every acknowledged one must land.
        const runId = `resize${id}`;
        const count = 6000;
        const publishing = c.load(runId, count, 2000);
        const t0 = performance.now();
        await apply(c.ns, c.pipeline({}, { name: pipeline, wal: wal('2Gi') }));
        const grown = await eventually(
          async () => {
            const s = await c.apps.readNamespacedStatefulSet({ name: set, namespace: c.ns });
            assert.notEqual(s.metadata?.uid, oldSet.metadata?.uid, 'the StatefulSet is a new object');
            assert.equal(templateSize(s), '2Gi', 'the new volume template');
            assert.deepEqual(requested(await claims()), Object.fromEntries(claimNames.map((n) => [n, '2Gi'])));
            const p = await c.getPipeline(pipeline);
            assert.equal(p.status?.observedGeneration, 2);
            assert.equal(condition(p, 'Degraded')?.status, 'False', `Degraded: ${condition(p, 'Degraded')?.message}`);
            assert.equal(condition(p, 'Ready')?.status, 'True', `Ready: ${condition(p, 'Ready')?.message}`);
            assert.equal(s.status?.readyReplicas, 2, 'the new StatefulSet counts the adopted pods ready');
            return s;
          },
          { timeoutMs: 60_000, intervalMs: 250, what: 'StatefulSet re-created with 2Gi, PVCs grown, Ready' },
        );
        const resizedAfter = ((performance.now() - t0) / 1000).toFixed(1);
        const now = await c.workerPods(pipeline);
        assert.deepEqual(
          Object.fromEntries(now.map((p) => [p.metadata?.name, p.metadata?.uid])),
          uids,
          'the same pods, never restarted',
        );
        assert.ok(now.every(podReady));
        assert.ok(
          now.every((p) => p.metadata?.ownerReferences?.some((r) => r.uid === grown.metadata?.uid && r.controller)),
          'the pods are adopted by the new StatefulSet',
        );
        const capacity = Object.fromEntries((await claims()).map((x) => [x.metadata?.name, x.status?.capacity]));
        assert.deepEqual(capacity, Object.fromEntries(claimNames.map((n) => [n, { storage: '2Gi' }])));
        const events = await c.core.listNamespacedEvent({
          namespace: c.ns,
          fieldSelector: `involvedObject.name=${pipeline}`,
        });
        const reasons = new Set(events.items.map((e) => e.reason));
        // ResizingVolumes: the Event of the Progressing condition's change while it happened.
        assert.ok(reasons.has('VolumeExpanding') && reasons.has('ResizingVolumes'), [...reasons].join(', '));
        const summary = await publishing;
        assert.equal(summary.acked, count);
        const stored = await c.awaitAllStored(runId, count);

        // A shrink: refused, nothing deleted, nothing changed.
        await apply(c.ns, c.pipeline({}, { name: pipeline, wal: wal('1Gi') }));
        const refused = await eventually(
          async () => {
            const p = await c.getPipeline(pipeline);
            assert.equal(p.status?.observedGeneration, 3);
            const d = condition(p, 'Degraded');
            assert.equal(d?.status, 'True', `Degraded: ${d?.message}`);
            return d;
          },
          { timeoutMs: 30_000, intervalMs: 250, what: 'Degraded=True after a shrink' },
        );
        assert.equal(refused?.reason, 'VolumeShrinkRefused');
        assert.match(refused?.message ?? '', /cannot shrink/);
        assert.match(refused?.message ?? '', /set wal\.storage\.size to 2Gi or more/);
        const after = await c.apps.readNamespacedStatefulSet({ name: set, namespace: c.ns });
        assert.equal(after.metadata?.uid, grown.metadata?.uid, 'the StatefulSet is kept');
        assert.equal(templateSize(after), '2Gi');
        assert.deepEqual(requested(await claims()), Object.fromEntries(claimNames.map((n) => [n, '2Gi'])));
        assert.deepEqual(names(await c.workerPods(pipeline)), Object.keys(uids).sort());
        t.diagnostic(
          `resized 1Gi → 2Gi with the pods kept in ${resizedAfter} s; all ${count} messages stored (${stored.duplicates} duplicates); shrink refused`,
        );
      } finally {
        await kubectl(['delete', 'storageclass', storageClass, '--wait=false']);
      }
    }));

  test('a StorageClass without allowVolumeExpansion: the Warning names it, the template still rolls for new ordinals', async (t) =>
    c.scenario(t, async () => {
      await apply(c.ns, storageClassDoc(fixedClass, false));
      try {
        const fixed = `${name}-fx`;
        const set = `${fixed}-worker`;
        await apply(c.ns, c.pipeline({}, { name: fixed, replicas: 1, wal: wal('1Gi', fixedClass) }));
        await c.awaitPipelineReady(1, fixed, 1);
        const oldSet = await c.apps.readNamespacedStatefulSet({ name: set, namespace: c.ns });
        const [pod] = await c.workerPods(fixed);
        await apply(c.ns, c.pipeline({}, { name: fixed, replicas: 1, wal: wal('2Gi', fixedClass) }));
        const warning = await eventually(
          async () => {
            const events = await c.core.listNamespacedEvent({
              namespace: c.ns,
              fieldSelector: `involvedObject.name=${fixed},reason=VolumeExpansionNotSupported`,
            });
            const e = events.items[0];
            assert.ok(e, 'a VolumeExpansionNotSupported Event');
            const s = await c.apps.readNamespacedStatefulSet({ name: set, namespace: c.ns });
            assert.notEqual(s.metadata?.uid, oldSet.metadata?.uid, 'the StatefulSet is a new object');
            assert.equal(templateSize(s), '2Gi');
            return e;
          },
          { timeoutMs: 30_000, intervalMs: 250, what: 'the Warning, and the StatefulSet re-created' },
        );
        assert.equal(warning.type, 'Warning');
        assert.match(warning.message ?? '', new RegExp(`StorageClass ${fixedClass} does not allow volume expansion`));
        assert.deepEqual(requested(await claimsOf(fixed)), { [`wal-${set}-0`]: '1Gi' }, 'the volume keeps its size');
        await c.awaitPipelineReady(2, fixed, 1);
        assert.equal((await c.workerPods(fixed))[0]?.metadata?.uid, pod?.metadata?.uid, 'the same pod');
        // A new ordinal gets the new size.
        await apply(c.ns, c.pipeline({}, { name: fixed, replicas: 2, wal: wal('2Gi', fixedClass) }));
        await c.awaitPipelineReady(3, fixed, 2);
        assert.deepEqual(requested(await claimsOf(fixed)), { [`wal-${set}-0`]: '1Gi', [`wal-${set}-1`]: '2Gi' });
      } finally {
        await kubectl(['delete', 'storageclass', fixedClass, '--wait=false']);
      }
    }));
});
