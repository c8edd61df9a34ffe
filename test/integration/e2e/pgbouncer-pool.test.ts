// A spec change of the PgBouncer pool size reaches the running PgBouncer (issue 10, point 6). With
// autoscaling off nothing sets the size live, so the running pods must be replaced by ones that read the new
// pgbouncer.ini. Real parts only (local-cluster-setup.ts): the test environment's kube-apiserver, the operator
// as a process, the local cluster's pod runner playing kubelet and Deployment controller, so the PgBouncer pod
// is a real pgbouncer process, and its own admin console is the witness of the size it runs with.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { kubectl, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, condition } from '../../lib/kube.ts';
import { pgbouncerAdminLogin } from '../../lib/pgbouncer-process.ts';
import { LocalClusterE2E } from './local-cluster-setup.ts';

const c = new LocalClusterE2E();
const { name, table, unparseableTable } = c.target;
const db = () => new URL(requireEnv('DATABASE_URL'));

/** One worker behind the operator's PgBouncer, which points at the test PostgreSQL; autoscaling stays off. */
const pipeline = (poolSize: number) => c.pipeline({}, { replicas: 1, pgbouncer: true, poolSize });

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> };
}

/** The PgBouncer pods that exist and are not being deleted, from the API server (as a Service would pick them). */
async function bouncerPods(): Promise<PodJson[]> {
  const r = await kubectl([
    'get',
    'pods',
    '-n',
    c.ns,
    '-l',
    `mqtt2pg.io/pipeline=${name},app.kubernetes.io/component=pgbouncer`,
    '-o',
    'json',
  ]);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { items: PodJson[] }).items.filter((p) => !p.metadata.deletionTimestamp);
}

/** What one running PgBouncer says about its pool size, on its admin console at the pod's address. */
async function poolSizeOf(podIP: string): Promise<{ config: number; database: number | undefined }> {
  const url = db();
  const admin = new pg.Client({
    host: podIP,
    port: 6432,
    ...(await pgbouncerAdminLogin(c.ns, name)),
    database: 'pgbouncer',
  });
  admin.on('error', () => {});
  await admin.connect();
  try {
    const config = await admin.query<{ key: string; value: string }>('SHOW CONFIG');
    const dbs = await admin.query<{ name: string; pool_size: string }>('SHOW DATABASES');
    const mine = dbs.rows.find((r) => r.name === url.pathname.slice(1));
    return {
      config: Number(config.rows.find((r) => r.key === 'default_pool_size')?.value),
      database: mine ? Number(mine.pool_size) : undefined,
    };
  } finally {
    await admin.end().catch(() => {});
  }
}

/** Every live PgBouncer pod is ready and runs `want`; returns their names. */
async function awaitRunningPoolSize(want: number, timeoutMs = 90_000): Promise<string[]> {
  return eventually(
    async () => {
      const pods = await bouncerPods();
      assert.equal(pods.length, 1, 'one PgBouncer pod (spec.sink.pgbouncer.replicas)');
      for (const p of pods) {
        const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        assert.ok(ready, `${p.metadata.name} ready`);
        assert.ok(p.status?.podIP, `${p.metadata.name} has an address`);
        const size = await poolSizeOf(p.status.podIP);
        assert.equal(size.config, want, `${p.metadata.name}: SHOW CONFIG default_pool_size`);
        assert.equal(size.database, want, `${p.metadata.name}: SHOW DATABASES pool_size`);
      }
      return pods.map((p) => p.metadata.name);
    },
    { timeoutMs, intervalMs: 250, what: `the running PgBouncer at pool size ${want}` },
  );
}

describe('PgBouncer pool size: a spec change reaches the running PgBouncer', { timeout: 300_000 }, () => {
  c.hooks();

  // The worker created its tables in the shared test database; runs after hooks() stopped it.
  after(async () => {
    const client = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
    await client.connect();
    await client.query(`DROP TABLE IF EXISTS ${table}, ${unparseableTable}`);
    await client.end();
  });

  test('with autoscaling off, editing spec.sink.pgbouncer.poolSize changes the pool size PgBouncer runs with', async (t) =>
    c.scenario(t, async () => {
      await apply(c.ns, pipeline(3));
      const before = await awaitRunningPoolSize(3);
      const first = await c.getPipeline();
      const spec = first.spec as { autoscaling?: unknown };
      assert.equal(spec.autoscaling, undefined, 'autoscaling is off: no autoscaler sets the size live');
      assert.equal(first.status?.poolSize, 3);

      await apply(c.ns, pipeline(7));
      const afterPods = await awaitRunningPoolSize(7);
      await eventually(
        async () => {
          const p = await c.getPipeline();
          assert.equal(p.status?.observedGeneration, 2, 'observedGeneration');
          assert.equal(p.status?.poolSize, 7, 'status.poolSize');
          assert.equal(condition(p, 'Degraded')?.status, 'False', `Degraded: ${condition(p, 'Degraded')?.message}`);
        },
        { timeoutMs: 30_000, intervalMs: 250, what: 'status.poolSize 7 for generation 2' },
      );
      const cm = await kubectl(['get', 'configmap', `${name}-pgbouncer-config`, '-n', c.ns, '-o', 'json']);
      const ini = (JSON.parse(cm.stdout) as { data: Record<string, string> }).data['pgbouncer.ini'] ?? '';
      assert.match(ini, /^default_pool_size = 7$/m, 'the ConfigMap, for pods that start later');
      t.diagnostic(`PgBouncer ${before.join(', ')} at pool 3 → ${afterPods.join(', ')} at pool 7`);
    }));
});
