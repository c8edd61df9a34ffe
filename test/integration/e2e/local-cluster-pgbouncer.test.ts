// The operator's own PgBouncer as a pod on the local cluster (local-cluster-setup.ts): the pipeline names
// PostgreSQL itself, and the worker reaches the PgBouncer pod by its Service name through the runner's
// stand-in for cluster DNS (cluster-dns.ts).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { kubectl, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply } from '../../lib/kube.ts';
import { pgbouncerAdminLogin } from '../../lib/pgbouncer-process.ts';
import { LocalClusterE2E, podReady, seconds } from './local-cluster-setup.ts';

const c = new LocalClusterE2E();
const { id, name } = c.target;

describe("local cluster: the operator's PgBouncer as a pod, on real services", { timeout: 600_000 }, () => {
  c.hooks();

  test("PgBouncer pods: the operator's PgBouncer runs as a pod and the worker reaches it by its Service name", async (t) =>
    c.scenario(t, async () => {
      const pb = `${name}-b`;
      const t0 = performance.now();
      await apply(c.ns, c.pipeline({}, { name: pb, replicas: 1, pgbouncer: true }));
      const ready = await c.awaitPipelineReady(1, pb, 1);
      const readyAfter = seconds(t0);
      assert.equal(ready.status?.poolSize, 4);
      const cm = await c.core.readNamespacedConfigMap({ name: `${pb}-worker-config`, namespace: c.ns });
      assert.match(cm.data?.['pipeline.yaml'] ?? '', new RegExp(`host: ${pb}-pgbouncer\\.${c.ns}\\.svc`));
      const [bouncer] = (
        await c.core.listNamespacedPod({
          namespace: c.ns,
          labelSelector: `mqtt2pg.io/pipeline=${pb},app.kubernetes.io/component=pgbouncer`,
        })
      ).items;
      assert.ok(bouncer && podReady(bouncer), 'the PgBouncer pod is ready');
      const runId = `bouncer${id}`;
      const count = 10_000;
      const summary = await c.load(runId, count, 5000);
      assert.equal(summary.acked, count);
      const a = await c.awaitAllStored(runId, count);
      // The rows went through that pod: its admin console (the operator's own user) counts the transactions.
      const pgUrl = new URL(requireEnv('DATABASE_URL'));
      const admin = new pg.Client({
        host: bouncer.status?.podIP,
        port: 6432,
        ...(await pgbouncerAdminLogin(c.ns, pb)),
        database: 'pgbouncer',
      });
      await admin.connect();
      const stats = await admin.query<{ database: string; total_xact_count: string }>('SHOW STATS');
      await admin.end();
      const xacts = Number(stats.rows.find((r) => r.database === pgUrl.pathname.slice(1))?.total_xact_count ?? 0);
      assert.ok(xacts > 0, `transactions through the PgBouncer pod: ${xacts}`);
      const r = await kubectl(['delete', 'ingestpipeline', pb, '-n', c.ns, '--wait=true']);
      assert.equal(r.code, 0, r.stderr);
      await eventually(
        async () => {
          for (const [kind, child] of [
            ['deployment', `${pb}-pgbouncer`],
            ['service', `${pb}-pgbouncer`],
            ['configmap', `${pb}-pgbouncer-config`],
            ['secret', `${pb}-pgbouncer-auth`],
          ] as const) {
            const g = await kubectl(['get', kind, child, '-n', c.ns, '--ignore-not-found', '-o', 'name']);
            assert.equal(g.stdout.trim(), '', `${kind} ${child} still exists`);
          }
          assert.deepEqual(c.runner.pods(), []);
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'PgBouncer children and pods gone' },
      );
      t.diagnostic(
        `Ready (PgBouncer + worker) after ${readyAfter}; ${count} stored through the PgBouncer pod (${xacts} transactions), ${a.duplicates} duplicates`,
      );
    }));
});
