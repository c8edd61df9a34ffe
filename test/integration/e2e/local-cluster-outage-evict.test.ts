// A worker pod evicted through the Eviction API (policy/v1, as `kubectl drain` asks) during a PostgreSQL
// outage (outage-scenario.ts). The operator renders a PodDisruptionBudget (maxUnavailable 1) whose
// unhealthyPodEvictionPolicy is AlwaysAllow for a persistent WAL: with PostgreSQL down every worker is
// unready and the budget allows no disruption of healthy pods, yet the unready worker is evicted at once, so
// a node drain does not wait for the database. Its WAL stays on its PVC; the replacement, under the same
// name, replays it and resumes the broker session once PostgreSQL is back.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually } from '../../lib/eventually.ts';
import { apply } from '../../lib/kube.ts';
import { LocalClusterE2E, podReady, seconds } from './local-cluster-setup.ts';
import { budget, evict, outageHooks, outagePipeline, outageScenario, podLogs } from './outage-scenario.ts';

const c = new LocalClusterE2E();
const { name } = c.target;

describe('local cluster: a worker pod evicted during a PostgreSQL outage', { timeout: 600_000 }, () => {
  outageHooks(c);

  test('Eviction API with PostgreSQL down: the unready worker is evicted at once, its replacement resumes, nothing acknowledged is lost', async (t) =>
    c.scenario(t, async () => {
      await apply(c.ns, outagePipeline(c));
      await c.awaitPipelineReady(1);
      await eventually(async () => assert.equal((await budget(c))?.disruptionsAllowed, 1), {
        what: 'the budget allowing one disruption while the workers are ready',
      });
      const victim = `${name}-worker-1`;
      const before = await c.core.readNamespacedPod({ name: victim, namespace: c.ns });
      let evictedAt = 0;
      const t0 = performance.now();
      await outageScenario(c, t, {
        operation: 'evict',
        during: async () => {
          await eventually(
            async () => {
              const s = await budget(c);
              assert.equal(s?.currentHealthy, 0);
              assert.equal(s?.disruptionsAllowed, 0);
            },
            { timeoutMs: 10_000, intervalMs: 100, what: 'the budget seeing no healthy worker' },
          );
          const r = await evict(c, victim);
          assert.equal(r.code, 201, `the unready worker evicted during the outage: ${r.message}`);
          evictedAt = performance.now();
          await eventually(
            async () => {
              const p = await c.core.readNamespacedPod({ name: victim, namespace: c.ns }).catch(() => undefined);
              assert.notEqual(p?.metadata?.uid, before.metadata?.uid, 'the evicted pod is gone');
            },
            { timeoutMs: 30_000, intervalMs: 200, what: `${victim} evicted` },
          );
        },
        recover: async () => {
          await eventually(
            async () => {
              const p = await c.core.readNamespacedPod({ name: victim, namespace: c.ns });
              assert.notEqual(p.metadata?.uid, before.metadata?.uid, 'a new pod');
              assert.ok(podReady(p), `${victim} ready`);
            },
            { timeoutMs: 90_000, intervalMs: 200, what: `${victim} back under its name and ready` },
          );
        },
      });
      const [, ...replacement] = podLogs(c, victim);
      assert.match(replacement.join(''), /"sessionPresent":true/, 'the replacement resumed the broker session');
      await c.awaitPipelineReady(1);
      t.diagnostic(
        `eviction accepted ${((evictedAt - t0) / 1000).toFixed(1)} s into the scenario, during the outage; ${victim} back ${seconds(evictedAt)} after it`,
      );
    }));
});
