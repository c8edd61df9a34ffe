// Deleting a pipeline with a WAL backlog on the local cluster (local-cluster-setup.ts): the worker pod and
// the operator's PgBouncer pod are real processes. The table is locked while QoS 1 load is acknowledged, so
// the worker's WAL holds the messages when the pipeline is deleted; the drain finalizer keeps PgBouncer
// until the worker has flushed them through it, and only then do the children go.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { kubectl, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, condition } from '../../lib/kube.ts';
import { LocalClusterE2E, seconds } from './local-cluster-setup.ts';

const c = new LocalClusterE2E();
const { id, name, table } = c.target;

describe('local cluster: deleting a pipeline drains its WAL before PgBouncer goes', { timeout: 600_000 }, () => {
  c.hooks();

  test('pipeline deleted with a WAL backlog: every acknowledged message is stored, then the children go', async (t) =>
    c.scenario(t, async () => {
      const p = `${name}-d`;
      await apply(c.ns, c.pipeline({}, { name: p, replicas: 1, pgbouncer: true }));
      await c.awaitPipelineReady(1, p, 1);
      const bouncerPods = async () =>
        (
          await c.core.listNamespacedPod({
            namespace: c.ns,
            labelSelector: `mqtt2pg.io/pipeline=${p},app.kubernetes.io/component=pgbouncer`,
          })
        ).items.length;

      // Flushes block on the lock: what the broker acknowledges stays in the worker's WAL.
      const lock = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
      await lock.connect();
      let locked = true;
      try {
        await lock.query('BEGIN');
        await lock.query(`LOCK TABLE "${table}" IN ACCESS EXCLUSIVE MODE`);
        const runId = `delete${id}`;
        const count = 3000;
        const summary = await c.load(runId, count, 3000);
        assert.equal(summary.acked, count);

        const t0 = performance.now();
        const del = await kubectl(['delete', 'ingestpipeline', p, '-n', c.ns, '--wait=false']);
        assert.equal(del.code, 0, del.stderr);
        await eventually(
          async () => {
            const s = await c.getPipeline(p);
            assert.equal(condition(s, 'Ready')?.reason, 'Draining');
            assert.match(condition(s, 'Ready')?.message ?? '', /waiting for 1 worker pod to drain/);
          },
          { timeoutMs: 20_000, intervalMs: 200, what: 'the deletion waits for the worker' },
        );
        assert.equal(await bouncerPods(), 1, 'PgBouncer runs while the worker drains');

        await lock.query('ROLLBACK');
        locked = false;
        const a = await c.awaitAllStored(runId, count);
        await eventually(
          async () => {
            const g = await kubectl(['get', 'ingestpipeline', p, '-n', c.ns, '--ignore-not-found', '-o', 'name']);
            assert.equal(g.stdout.trim(), '', 'the pipeline is gone');
            assert.equal(await bouncerPods(), 0, 'PgBouncer pods');
            assert.deepEqual(c.runner.pods(), [], 'no pod process left');
          },
          { timeoutMs: 60_000, intervalMs: 200, what: 'pipeline, PgBouncer and worker gone' },
        );
        assert.match(c.runner.logs(400), /drained: every acknowledged message is committed/);
        t.diagnostic(`${count} acknowledged, all stored, ${a.duplicates} duplicates; gone ${seconds(t0)} after delete`);
      } finally {
        if (locked) await lock.query('ROLLBACK').catch(() => {});
        await lock.end();
      }
    }));
});
