// A persistent WAL pipeline on the local cluster (local-cluster-setup.ts): the operator renders a StatefulSet
// with a PVC per pod, and the pod runner plays its controller, so pods keep their names and volumes across a
// node-crash-like kill -9 plus force-delete.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply } from '../../lib/kube.ts';
import { LocalClusterE2E, names, podReady, replicas, seconds } from './local-cluster-setup.ts';

const c = new LocalClusterE2E();
const { id, name } = c.target;

describe('local cluster: a persistent WAL pipeline as a StatefulSet, on real services', { timeout: 600_000 }, () => {
  c.hooks();

  test('persistent WAL: StatefulSet pods keep their names and PVCs; kill -9 plus force-delete of a pod loses nothing', async (t) =>
    c.scenario(t, async () => {
      const sts = `${name}-p`;
      const t0 = performance.now();
      await apply(c.ns, c.pipeline({}, { name: sts, wal: { storage: { type: 'Persistent', size: '1Gi' } } }));
      await c.awaitPipelineReady(1, sts);
      const readyAfter = seconds(t0);
      const set = await c.apps.readNamespacedStatefulSet({ name: `${sts}-worker`, namespace: c.ns });
      assert.equal(set.status?.readyReplicas, replicas);
      assert.deepEqual(names(await c.workerPods(sts)), [`${sts}-worker-0`, `${sts}-worker-1`]);
      const victim = `${sts}-worker-1`;
      const before = await c.core.readNamespacedPod({ name: victim, namespace: c.ns });
      const runId = `sts${id}`;
      const count = 30_000;
      const publishing = c.load(runId, count, 5000);
      await eventually(
        async () => {
          const n = await c.workersMetric('mqtt2pg_received_total{qos="1"}');
          if (n < count * 0.3) throw new Error(`received ${n}`);
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'the workers receiving 30% of the run' },
      );
      // A node crash, as far as the pod can tell: the process dies at once and the Pod object is force-deleted.
      const killedAt = performance.now();
      assert.ok(c.runner.signal(victim, 'SIGKILL'));
      const del = await kubectl(['delete', 'pod', victim, '-n', c.ns, '--grace-period=0', '--force']);
      assert.equal(del.code, 0, del.stderr);
      const again = await eventually(
        async () => {
          const p = await c.core.readNamespacedPod({ name: victim, namespace: c.ns });
          assert.notEqual(p.metadata?.uid, before.metadata?.uid, 'a new pod');
          assert.ok(podReady(p), 'ready');
          return p;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: `${victim} recreated under its name and ready` },
      );
      const backAfter = seconds(killedAt);
      assert.equal(
        again.spec?.volumes?.find((v) => v.name === 'wal')?.persistentVolumeClaim?.claimName,
        `wal-${victim}`,
      );
      const summary = await publishing;
      assert.equal(summary.acked, count);
      const a = await c.awaitAllStored(runId, count);
      await c.awaitPipelineReady(1, sts);
      const r = await kubectl(['delete', 'ingestpipeline', sts, '-n', c.ns, '--wait=true']);
      assert.equal(r.code, 0, r.stderr);
      await eventually(
        async () => {
          assert.deepEqual(names(await c.workerPods(sts)), []);
          assert.deepEqual(c.runner.pods(), []);
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'StatefulSet pods gone after the pipeline' },
      );
      t.diagnostic(
        `StatefulSet Ready after ${readyAfter}; ${victim} back under its name after ${backAfter}; all ${count} stored, ${a.duplicates} duplicates`,
      );
    }));
});
