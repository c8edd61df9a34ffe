// A Persistent pipeline deleted during a PostgreSQL outage, on the local cluster (local-cluster-setup.ts),
// with the operator's own PgBouncer as a pod. The finalizer scales the workers to 0; they stop with their
// acknowledged messages still in the WALs on their PVCs. It then drains every volume with a Job running
// `mqtt2pg drain` through PgBouncer, which stays until the drains are done; while PostgreSQL is down the
// pipeline stays (Draining) and its status says per volume how many messages are stranded. Once PostgreSQL
// is back, every acknowledged id is stored, and then the pipeline and every child, the PVCs included, go.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, condition } from '../../lib/kube.ts';
import { LocalClusterE2E, seconds } from './local-cluster-setup.ts';
import { drainJobs, outcome, walClaims, withPostgresDown } from './wal-drain-outage.ts';

// A drain attempt gives up after 2 s without progress, so the stranded count shows within seconds.
const c = new LocalClusterE2E(['--drain-timeout', '2s']);
const { id, name } = c.target;

describe('local cluster: deleting a pipeline during a PostgreSQL outage drains its WAL volumes first', {
  timeout: 600_000,
}, () => {
  c.hooks();

  test('pipeline deleted with PostgreSQL down: stranded counts in status, then every acknowledged id stored and every child gone', async (t) =>
    c.scenario(t, async () => {
      const p = `${name}-x`;
      const flusher = { retry: { initialBackoff: '100ms', maxBackoff: '1s' } };
      await apply(c.ns, c.pipeline(flusher, { name: p, replicas: 2, pgbouncer: true, grace: 10 }));
      await c.awaitPipelineReady(1, p, 2);
      const claims = [`wal-${p}-worker-0`, `wal-${p}-worker-1`];
      assert.deepEqual(await walClaims(c, p), claims);
      const pods = async (component: string) =>
        (
          await c.core.listNamespacedPod({
            namespace: c.ns,
            labelSelector: `mqtt2pg.io/pipeline=${p},app.kubernetes.io/component=${component}`,
          })
        ).items.length;

      const runId = `deletion${id}`;
      const count = 3000;
      await withPostgresDown(async (startPostgres) => {
        const summary = await c.load(runId, count, 3000);
        assert.equal(summary.acked, count, 'every message acknowledged into the WALs');

        const t0 = performance.now();
        const del = await kubectl(['delete', 'ingestpipeline', p, '-n', c.ns, '--wait=false']);
        assert.equal(del.code, 0, del.stderr);
        const stranded = await eventually(
          async () => {
            const s = await c.getPipeline(p);
            assert.equal(condition(s, 'Ready')?.reason, 'Draining');
            assert.match(condition(s, 'Ready')?.message ?? '', /draining 2 WAL volumes the workers left/);
            const drains = s.status?.walDrains ?? [];
            assert.deepEqual(
              drains.map((d) => d.claim),
              claims,
            );
            for (const d of drains) assert.ok(d.messagesLeft !== undefined, `${d.claim}: ${d.message}`);
            return drains;
          },
          { timeoutMs: 90_000, intervalMs: 250, what: 'the deletion waits, with a stranded count per WAL volume' },
        );
        const left = stranded.reduce((n, d) => n + (d.messagesLeft ?? 0), 0);
        assert.equal(left, count, 'the stopped workers could not flush with PostgreSQL down: all of it is stranded');
        assert.equal(await pods('worker'), 0, 'the workers are gone');
        assert.equal(await pods('pgbouncer'), 1, 'PgBouncer stays for the drain Jobs');
        assert.deepEqual(await walClaims(c, p), claims, 'no volume released while it holds messages');
        t.diagnostic(
          `stranded while PostgreSQL was down (${seconds(t0)} after the delete): ${stranded.map((d) => `${d.claim}=${d.messagesLeft}`).join(', ')}`,
        );

        await startPostgres();
        const a = await c.awaitAllStored(runId, count);
        await eventually(
          async () => {
            const g = await kubectl(['get', 'ingestpipeline', p, '-n', c.ns, '--ignore-not-found', '-o', 'name']);
            assert.equal(g.stdout.trim(), '', 'the pipeline is gone');
            assert.deepEqual(await walClaims(c, p), [], 'every WAL volume deleted');
            assert.deepEqual(await drainJobs(c, p), [], 'drain Jobs gone');
            const left = await kubectl([
              'get',
              'statefulsets,deployments,services,configmaps,secrets,pods',
              '-n',
              c.ns,
              '-l',
              `mqtt2pg.io/pipeline=${p}`,
              '-o',
              'name',
            ]);
            assert.equal(left.stdout.trim(), '', 'no child left');
            assert.deepEqual(c.runner.pods(), [], 'no pod process left');
          },
          { timeoutMs: 60_000, intervalMs: 250, what: 'pipeline and every child gone' },
        );
        t.diagnostic(`pipeline and children gone ${seconds(t0)} after the delete`);
        outcome(t, 'deletion', summary.acked, a);
      });
    }));
});
