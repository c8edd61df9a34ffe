// Rollouts during a PostgreSQL outage (outage-scenario.ts): a spec change that rolls the workers
// (flusher.batchSize), and a rotation of a Secret the workers use (the operator hashes the referenced
// Secrets' data into the pod template, so a change rolls them). The StatefulSet replaces the top ordinal at
// once, although no worker is ready; that worker cannot drain, leaves the rest on its PVC and keeps its
// session; its replacement, on the new revision, starts once PostgreSQL is back, and only then does the
// rollout go on. Every acknowledged message must be stored.

import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply } from '../../lib/kube.ts';
import { LocalClusterE2E, names, podReady, seconds } from './local-cluster-setup.ts';
import { leftInWal, outageHooks, outagePipeline, outageScenario, podLogs, REPLICAS } from './outage-scenario.ts';

const c = new LocalClusterE2E();
const set = `${c.target.name}-worker`;
const top = `${set}-${REPLICAS - 1}`;
/** The second scenario rolls the first one's pipeline. */
let applied = false;

const updateRevision = async () =>
  (await c.apps.readNamespacedStatefulSet({ name: set, namespace: c.ns })).status?.updateRevision ?? '';

/** The operation took effect while PostgreSQL is down: the top worker replaced on a new revision. */
async function topRolled(oldRevision: string): Promise<string> {
  return eventually(
    async () => {
      const revision = await updateRevision();
      assert.notEqual(revision, oldRevision, 'a new StatefulSet revision');
      const p = await c.core.readNamespacedPod({ name: top, namespace: c.ns });
      assert.equal(p.metadata?.labels?.['controller-revision-hash'], revision, `${top} on the new revision`);
      return revision;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `${top} replaced on the new revision` },
  );
}

/** Every worker on `revision` and ready, and the pipeline Ready at `generation`. */
async function rolledOut(revision: string, generation: number) {
  await eventually(
    async () => {
      const pods = await c.workerPods();
      assert.equal(pods.length, REPLICAS);
      for (const p of pods) {
        assert.equal(p.metadata?.labels?.['controller-revision-hash'], revision, `${p.metadata?.name} updated`);
        assert.ok(podReady(p), `${p.metadata?.name} ready`);
      }
    },
    { timeoutMs: 120_000, intervalMs: 200, what: `every worker on ${revision} and ready` },
  );
  await c.awaitPipelineReady(generation);
}

/** The rollout under outage that `change` starts; says what the replaced top worker left in its WAL. */
async function rolloutUnderOutage(t: TestContext, operation: string, change: () => Promise<void>) {
  const before = names(await c.workerPods());
  const oldRevision = await updateRevision();
  const generation = () => c.getPipeline().then((p) => p.metadata.generation ?? 0);
  let revision = '';
  let rolledIn = '';
  const incarnations = podLogs(c, top).length;
  await outageScenario(c, t, {
    operation,
    during: async () => {
      const t0 = performance.now();
      await change();
      revision = await topRolled(oldRevision);
      rolledIn = seconds(t0);
    },
    recover: async () => rolledOut(revision, await generation()),
  });
  const left = leftInWal(podLogs(c, top)[incarnations - 1]);
  assert.ok(left > 0, `the replaced ${top} left acknowledged messages in its WAL (PostgreSQL was down)`);
  t.diagnostic(
    `${before.join(', ')} rolled to ${revision}; ${top} replaced ${rolledIn} after the change, with PostgreSQL down, leaving ${left} in its WAL`,
  );
}

describe('local cluster: rollouts during a PostgreSQL outage', { timeout: 600_000 }, () => {
  outageHooks(c);

  test('spec change (flusher.batchSize) with PostgreSQL down and a WAL backlog: the workers roll, nothing acknowledged is lost', async (t) =>
    c.scenario(t, async () => {
      await apply(c.ns, outagePipeline(c));
      await c.awaitPipelineReady(1);
      applied = true;
      await rolloutUnderOutage(t, 'rollout-spec', () => apply(c.ns, outagePipeline(c, { batchSize: 1000 })));
      const cm = await c.core.readNamespacedConfigMap({ name: `${set}-config`, namespace: c.ns });
      assert.match(cm.data?.['pipeline.yaml'] ?? '', /batchSize: 1000/);
    }));

  test('Secret rotation (the PostgreSQL credentials Secret changed) with PostgreSQL down: the workers roll, nothing acknowledged is lost', async (t) => {
    assert.ok(applied, 'needs the first scenario, which failed');
    return c.scenario(t, async () => {
      await rolloutUnderOutage(t, 'rollout-secret', async () => {
        const patch = JSON.stringify({ stringData: { rotatedAt: new Date().toISOString() } });
        const r = await kubectl(['patch', 'secret', 'pg', '-n', c.ns, '--type', 'merge', '-p', patch]);
        assert.equal(r.code, 0, r.stderr);
      });
    });
  });
});
