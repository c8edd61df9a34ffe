// A worker pod deleted (`kubectl delete pod`, its grace period) while PostgreSQL is down and every worker
// holds a WAL backlog (outage-scenario.ts): the stopping worker cannot drain, so it leaves what it holds on
// its PVC and keeps its broker session; the replacement, under the same name, replays the PVC once
// PostgreSQL is back and resumes the session, receiving what the broker held for it meanwhile.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply } from '../../lib/kube.ts';
import { LocalClusterE2E, podReady, seconds } from './local-cluster-setup.ts';
import { leftInWal, outageHooks, outagePipeline, outageScenario, podLogs, podMetric } from './outage-scenario.ts';

const c = new LocalClusterE2E();
const { name } = c.target;

describe('local cluster: a worker pod deleted during a PostgreSQL outage', { timeout: 600_000 }, () => {
  outageHooks(c);

  test('kubectl delete pod with PostgreSQL down and a WAL backlog: the replacement replays the PVC, nothing acknowledged is lost', async (t) =>
    c.scenario(t, async () => {
      await apply(c.ns, outagePipeline(c));
      await c.awaitPipelineReady(1);
      const victim = `${name}-worker-1`;
      const before = await c.core.readNamespacedPod({ name: victim, namespace: c.ns });
      let deletedIn = '';
      const o = await outageScenario(c, t, {
        operation: 'pod-delete',
        during: async () => {
          const t0 = performance.now();
          // Returns once the Pod object is gone: the worker got SIGTERM and its drain budget.
          const r = await kubectl(['delete', 'pod', victim, '-n', c.ns]);
          assert.equal(r.code, 0, r.stderr);
          deletedIn = seconds(t0);
        },
        recover: () =>
          eventually(
            async () => {
              const p = await c.core.readNamespacedPod({ name: victim, namespace: c.ns });
              assert.notEqual(p.metadata?.uid, before.metadata?.uid, 'a new pod');
              assert.ok(podReady(p), `${victim} ready`);
            },
            { timeoutMs: 90_000, intervalMs: 200, what: `${victim} back under its name and ready` },
          ),
      });
      const [old, ...replacement] = podLogs(c, victim);
      const left = leftInWal(old);
      assert.ok(left > 0, 'the deleted worker left acknowledged messages in its WAL (PostgreSQL was down)');
      const back = replacement.join('');
      assert.match(back, /replaying the WAL before new messages/);
      assert.match(back, /"sessionPresent":true/, 'the replacement resumed the broker session');
      // The load ended before PostgreSQL came back, so all it received was held by the broker for the session.
      const held = await podMetric(c, victim, 'mqtt2pg_received_total{qos="1"}');
      assert.ok(held > 0, 'the broker delivered what it held for the session');
      const restarts = (await c.core.readNamespacedPod({ name: victim, namespace: c.ns })).status
        ?.containerStatuses?.[0]?.restartCount;
      await c.awaitPipelineReady(1);
      t.diagnostic(
        `WAL backlog at the deletion ${JSON.stringify(o.backlog)}; ${victim} gone in ${deletedIn} leaving ${left} in its WAL; ` +
          `its replacement restarted ${restarts} times until PostgreSQL was back, then received ${held} the broker held`,
      );
    }));
});
