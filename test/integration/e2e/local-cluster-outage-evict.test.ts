// A worker pod evicted through the Eviction API (policy/v1, as `kubectl drain` asks) during a PostgreSQL
// outage (outage-scenario.ts). The operator renders a PodDisruptionBudget (maxUnavailable 1); with
// PostgreSQL down every worker is unready, so the budget allows no disruption and the API server refuses the
// eviction, as it would refuse a drain. The test retries as `kubectl drain` does: the eviction goes through
// once PostgreSQL is back and the workers are ready, and the evicted worker's replacement, under the same
// name, replays its PVC and resumes its session.

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

  test('Eviction API with PostgreSQL down: the disruption budget holds the eviction until the workers are ready, then nothing acknowledged is lost', async (t) =>
    c.scenario(t, async () => {
      await apply(c.ns, outagePipeline(c));
      await c.awaitPipelineReady(1);
      await eventually(async () => assert.equal((await budget(c))?.disruptionsAllowed, 1), {
        what: 'the budget allowing one disruption while the workers are ready',
      });
      const victim = `${name}-worker-1`;
      const before = await c.core.readNamespacedPod({ name: victim, namespace: c.ns });
      let refusal = '';
      let refusals = 0;
      let draining: Promise<void> | undefined;
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
          assert.equal(r.code, 429, `eviction refused while no worker is ready: ${r.message}`);
          assert.match(r.message, /disruption budget/);
          refusal = r.message;
          // kubectl drain's loop: retry a refused eviction until it is accepted.
          draining = eventually(
            async () => {
              const again = await evict(c, victim);
              if (again.code === 429) refusals++;
              assert.equal(again.code, 201, again.message);
              evictedAt = performance.now();
            },
            { timeoutMs: 120_000, intervalMs: 1000, what: `the eviction of ${victim} accepted` },
          );
          draining.catch(() => {}); // awaited by recover; a failure before that must not end the process
        },
        recover: async () => {
          await draining;
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
        `eviction refused ${refusals + 1} times (${refusal.match(/Cannot evict[^"]*/)?.[0] ?? refusal}), accepted ${((evictedAt - t0) / 1000).toFixed(1)} s into the scenario; ${victim} back after ${seconds(evictedAt)}`,
      );
    }));
});
