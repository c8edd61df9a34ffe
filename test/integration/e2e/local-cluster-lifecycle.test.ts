// The end-to-end scenarios of the kind suite on the local cluster (local-cluster-setup.ts): apply → rows land;
// kill -9 a worker → no loss; change the spec → the pods roll (under load, without loss); delete → children
// and processes gone. Each scenario builds on the previous one's Deployment pipeline (wal.storage.type
// Ephemeral, opt-in). Persistent WAL pipelines (the default) and the operator's PgBouncer as a pod have
// files of their own (local-cluster-storage.test.ts, local-cluster-pgbouncer.test.ts).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, condition } from '../../lib/kube.ts';
import { LocalClusterE2E, names, podReady, replicas, seconds, templateAnnotation } from './local-cluster-setup.ts';

const c = new LocalClusterE2E();
const { id, name } = c.target;
/** This file is about the Deployment shape, which a pipeline gets only by opting into an Ephemeral WAL. */
const asDeployment = { wal: { storage: { type: 'Ephemeral' as const } } };
/** The later scenarios build on the first one's pipeline. */
let applied = false;

describe('local cluster: a Deployment pipeline from apply to delete, on real services', { timeout: 600_000 }, () => {
  c.hooks();

  test('apply: the operator creates the workers, they run as pods, the pipeline is Ready and rows land', async (t) =>
    c.scenario(t, async () => {
      const t0 = performance.now();
      await apply(c.ns, c.pipeline({}, asDeployment));
      await eventually(() => c.apps.readNamespacedDeployment({ name: `${name}-worker`, namespace: c.ns }), {
        what: 'worker Deployment created by the operator',
      });
      const created = seconds(t0);
      const ready = await c.awaitPipelineReady(1);
      const readyAfter = seconds(t0);
      assert.equal(condition(ready, 'Degraded')?.status, 'False');
      const pods = await c.workerPods();
      assert.equal(pods.length, replicas);
      assert.equal(new Set(pods.map((p) => p.status?.podIP)).size, replicas, 'every pod has its own address');
      for (const p of pods) {
        assert.equal(p.status?.phase, 'Running');
        assert.match(p.status?.podIP ?? '', /^127\.0\.0\.\d+$/);
        assert.equal((await fetch(`http://${p.status?.podIP}:8081/readyz`)).status, 200);
      }
      const table = await kubectl(['get', 'ingp', '-n', c.ns, name]);
      assert.match(table.stdout, new RegExp(`${name}\\s+True\\s+${replicas}`));

      const runId = `apply${id}`;
      const count = 20_000;
      const t1 = performance.now();
      const summary = await c.load(runId, count, 5000);
      assert.equal(summary.acked, count, 'the broker acknowledged every publish');
      const a = await c.awaitAllStored(runId, count);
      t.diagnostic(
        `Deployment after ${created}, Ready=True after ${readyAfter}; ${count} messages published and stored in ${seconds(t1)} (${a.duplicates} duplicates)`,
      );
      applied = true;
      // Both workers took part in the shared subscription.
      for (const p of c.runner.pods()) {
        const text = await (await fetch(`http://${p.ip}:9090/metrics`)).text();
        const m = /^mqtt2pg_acked_total\{[^}]*\} (\d+)/m.exec(text);
        assert.ok(Number(m?.[1] ?? 0) > 0, `pod ${p.name} acknowledged messages`);
      }
    }));

  test('kill -9 of a worker mid-load: restarted in the same pod with the same WAL, no message lost', async (t) => {
    assert.ok(applied, 'needs the apply scenario, which failed');
    return c.scenario(t, async () => {
      const [victim] = c.runner.pods();
      assert.ok(victim, 'a worker pod runs');
      const before = (await c.workerPods()).find((p) => p.metadata?.name === victim.name);
      const runId = `kill${id}`;
      const count = 40_000;
      const receivedBefore = await c.workersMetric('mqtt2pg_received_total{qos="1"}');
      const publishing = c.load(runId, count, 5000);
      await eventually(
        async () => {
          const n = (await c.workersMetric('mqtt2pg_received_total{qos="1"}')) - receivedBefore;
          if (n < count * 0.3) throw new Error(`received ${n}`);
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'the workers receiving 30% of the run' },
      );
      const killedAt = performance.now();
      assert.ok(c.runner.signal(victim.name, 'SIGKILL'), 'the worker process was running');
      const restarted = await eventually(
        async () => {
          const p = await c.core.readNamespacedPod({ name: victim.name, namespace: c.ns });
          const s = p.status?.containerStatuses?.[0];
          assert.equal(s?.restartCount, 1, 'restartCount');
          assert.equal(s?.lastState?.terminated?.exitCode, 137, 'last exit: SIGKILL');
          assert.ok(podReady(p), 'ready again');
          return p;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'the killed worker restarted and ready' },
      );
      const backAfter = seconds(killedAt);
      assert.equal(restarted.metadata?.uid, before?.metadata?.uid, 'the same pod');
      assert.equal(restarted.status?.podIP, before?.status?.podIP, 'the same pod IP');
      const info = c.runner.pods().find((p) => p.name === victim.name);
      assert.equal(info?.dir, victim.dir, 'the same pod directory, so the same WAL emptyDir');
      assert.match(c.runner.logs(400), /replaying the WAL before new messages/);
      const summary = await publishing;
      assert.equal(summary.acked, count, 'the broker acknowledged every publish');
      const a = await c.awaitAllStored(runId, count);
      await c.awaitPipelineReady();
      t.diagnostic(
        `killed ${victim.name} after ${Math.round(count * 0.3)}+ messages; ready again after ${backAfter}; all ${count} stored, ${a.duplicates} duplicates (at-least-once)`,
      );
    });
  });

  test('spec change (flusher.batchSize): the pods roll one at a time under load, observedGeneration follows, no loss', async (t) => {
    assert.ok(applied, 'needs the apply scenario, which failed');
    return c.scenario(t, async () => {
      const oldPods = names(await c.workerPods());
      const deployment = await c.apps.readNamespacedDeployment({ name: `${name}-worker`, namespace: c.ns });
      const oldHash = templateAnnotation(deployment);
      const runId = `roll${id}`;
      const count = 30_000;
      const publishing = c.load(runId, count, 2500);
      const t0 = performance.now();
      await apply(c.ns, c.pipeline({ batchSize: 1000 }, asDeployment));
      const generation = (await c.getPipeline()).metadata.generation;
      assert.equal(generation, 2);
      // Never more than replicas + 1 (maxSurge) worker pods, never fewer than `replicas` ready (maxUnavailable 0).
      let maxPods = 0;
      let minReady = replicas;
      const rolled = await eventually(
        async () => {
          const pods = await c.workerPods();
          maxPods = Math.max(maxPods, pods.length);
          minReady = Math.min(minReady, pods.filter(podReady).length);
          const d = await c.apps.readNamespacedDeployment({ name: `${name}-worker`, namespace: c.ns });
          assert.notEqual(templateAnnotation(d), oldHash, 'config hash changed');
          assert.equal(pods.length, replicas);
          for (const p of pods) assert.ok(!oldPods.includes(p.metadata?.name ?? ''), `${p.metadata?.name} is new`);
          assert.ok(pods.every(podReady), 'new pods ready');
          return pods;
        },
        { timeoutMs: 120_000, intervalMs: 100, what: 'every worker pod replaced' },
      );
      const rolledAfter = seconds(t0);
      await c.awaitPipelineReady(generation);
      const cm = await c.core.readNamespacedConfigMap({ name: `${name}-worker-config`, namespace: c.ns });
      assert.match(cm.data?.['pipeline.yaml'] ?? '', /batchSize: 1000/);
      assert.ok(maxPods <= replicas + 1, `at most ${replicas + 1} pods at once (saw ${maxPods})`);
      assert.ok(minReady >= replicas - 0, `at least ${replicas} ready at any time (saw ${minReady})`);
      const hashes = new Set(rolled.map((p) => p.metadata?.labels?.['pod-template-hash']));
      assert.equal(hashes.size, 1);
      const summary = await publishing;
      assert.equal(summary.acked, count);
      const a = await c.awaitAllStored(runId, count);
      // SIGTERM drained the old pods: their logs say so.
      assert.match(c.runner.logs(400), /drained: every acknowledged message is committed/);
      t.diagnostic(
        `${oldPods.join(', ')} → ${names(rolled).join(', ')} in ${rolledAfter}; at most ${maxPods} pods, at least ${minReady} ready; all ${count} stored under load, ${a.duplicates} duplicates`,
      );
    });
  });

  test('delete: the garbage collector removes every child, the worker processes stop', async (t) => {
    assert.ok(applied, 'needs the apply scenario, which failed');
    return c.scenario(t, async () => {
      const t0 = performance.now();
      const r = await kubectl(['delete', 'ingestpipeline', name, '-n', c.ns, '--wait=true']);
      assert.equal(r.code, 0, r.stderr);
      const children = [
        ['deployment', `${name}-worker`],
        ['configmap', `${name}-worker-config`],
        ['serviceaccount', `${name}-worker`],
        ['role', `${name}-worker`],
        ['rolebinding', `${name}-worker`],
        ['poddisruptionbudget', `${name}-worker`],
      ];
      await eventually(
        async () => {
          for (const [kind, n] of children) {
            const g = await kubectl([
              'get',
              kind as string,
              n as string,
              '-n',
              c.ns,
              '--ignore-not-found',
              '-o',
              'name',
            ]);
            assert.equal(g.stdout.trim(), '', `${kind}/${n} still exists`);
          }
          assert.deepEqual(names(await c.workerPods()), [], 'worker pods');
          const all = await c.core.listNamespacedPod({ namespace: c.ns });
          assert.equal(all.items.length, 0, 'no pod left, not even terminating');
          assert.deepEqual(c.runner.pods(), [], 'no pod process left');
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'children and pods gone' },
      );
      t.diagnostic(`children, pods and processes gone ${seconds(t0)} after kubectl delete`);
    });
  });
});
