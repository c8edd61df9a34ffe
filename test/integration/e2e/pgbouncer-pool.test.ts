// A spec change of the PgBouncer pool size reaches the running PgBouncer (issue 10, point 6). With
// autoscaling off nothing sets the size live, so the running pods must be replaced by ones that read the new
// pgbouncer.ini. Real parts only: the test environment's kube-apiserver, the operator as a process, the local
// cluster's pod runner playing kubelet and Deployment controller, so the PgBouncer pod is a real pgbouncer
// process, and its own admin console is the witness of the size it runs with.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { dump } from 'js-yaml';
import pg from 'pg';
import { kubectl, REPO_ROOT, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import {
  condition,
  createNamespace,
  deleteNamespace,
  ensureCrd,
  type OperatorProcess,
  type PipelineObject,
  startOperator,
} from '../../lib/kube.ts';
import { PodRunner } from '../../local-cluster/pod-runner.ts';

const id = randomBytes(3).toString('hex');
const name = `pool-${id}`;
const dir = mkdtempSync(join(tmpdir(), `mqtt2pg-pgbouncer-pool-${id}-`));
const db = () => new URL(requireEnv('DATABASE_URL'));

let ns = '';
let runner: PodRunner | undefined;
let op: OperatorProcess | undefined;
const runnerLog: string[] = [];

/** One worker behind the operator's PgBouncer, which points at the test PostgreSQL; autoscaling stays off. */
function pipeline(poolSize: number) {
  const url = db();
  return {
    apiVersion: 'mqtt2pg.io/v1alpha1',
    kind: 'IngestPipeline',
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      source: {
        brokers: [requireEnv('MQTT_URL')],
        topicFilter: `t/+/d/+/evt/pool${id}/#`,
        auth: { secretRef: { name: 'mqtt' } },
      },
      sink: {
        postgres: {
          host: url.hostname,
          port: Number(url.port),
          database: url.pathname.slice(1),
          credentialsSecretRef: { name: 'pg' },
        },
        pgbouncer: { enabled: true, replicas: 1, poolSize },
        table: `pool_${id}`,
        unparseableTable: `pool_${id}_unparseable`,
      },
      terminationGracePeriodSeconds: 10,
    },
  };
}

const secret = (secretName: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: secretName, namespace: ns },
  stringData: data,
});

async function kubectlApply(...docs: unknown[]) {
  const r = await kubectl(['apply', '-f', '-'], docs.map((d) => dump(d)).join('---\n'));
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
}

async function getPipeline(): Promise<PipelineObject> {
  const r = await kubectl(['get', 'ingestpipeline', name, '-n', ns, '-o', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as PipelineObject;
}

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
    ns,
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
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
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

async function scenario(t: TestContext, body: () => Promise<void>) {
  try {
    await body();
  } catch (err) {
    const state = await kubectl(['get', 'ingestpipelines,deployments,pods,configmaps', '-n', ns, '-o', 'wide']);
    const report = [
      `==== ${t.name} failed: state of namespace ${ns}`,
      state.stdout + state.stderr,
      '==== pod runner',
      ...runnerLog.slice(-40),
      '==== pod processes',
      runner?.logs(20) ?? '',
      '==== operator (last 30 lines)',
      ...(op?.logs.slice(-30) ?? []),
    ].join('\n');
    writeFileSync(join(dir, 'failure.txt'), report);
    console.error(report);
    throw err;
  }
}

describe('PgBouncer pool size: a spec change reaches the running PgBouncer', { timeout: 300_000 }, () => {
  before(async () => {
    await ensureCrd();
    ns = await createNamespace('e2e-pool');
    const url = db();
    await kubectlApply(
      secret('pg', { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }),
      secret('mqtt', { username: requireEnv('MQTT_USERNAME'), password: requireEnv('MQTT_PASSWORD') }),
    );
    runner = new PodRunner({
      kubeconfig: requireEnv('KUBECONFIG'),
      namespace: ns,
      dir: join(dir, 'node'),
      repoRoot: REPO_ROOT,
      log: (l) => runnerLog.push(l),
    });
    await runner.start();
    op = startOperator(['--watch-namespace', ns, '--lease-namespace', ns, '--worker-image', 'mqtt2pg:local']);
    await op.waitForLog(/caches synced/);
  });

  after(async () => {
    await runner?.stop();
    const code = await op?.stop();
    if (ns) await deleteNamespace(ns);
    // The worker created its tables in the shared test database.
    const c = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
    await c.connect();
    await c.query(`DROP TABLE IF EXISTS pool_${id}, pool_${id}_unparseable`);
    await c.end();
    assert.equal(code, 0, `operator exit code; last logs:\n${op?.logs.slice(-10).join('\n')}`);
    rmSync(dir, { recursive: true, force: true });
  });

  test('with autoscaling off, editing spec.sink.pgbouncer.poolSize changes the pool size PgBouncer runs with', async (t) =>
    scenario(t, async () => {
      await kubectlApply(pipeline(3));
      const before = await awaitRunningPoolSize(3);
      const first = await getPipeline();
      const spec = first.spec as { autoscaling?: unknown };
      assert.equal(spec.autoscaling, undefined, 'autoscaling is off: no autoscaler sets the size live');
      assert.equal(first.status?.poolSize, 3);

      await kubectlApply(pipeline(7));
      const afterPods = await awaitRunningPoolSize(7);
      await eventually(
        async () => {
          const p = await getPipeline();
          assert.equal(p.status?.observedGeneration, 2, 'observedGeneration');
          assert.equal(p.status?.poolSize, 7, 'status.poolSize');
          assert.equal(condition(p, 'Degraded')?.status, 'False', `Degraded: ${condition(p, 'Degraded')?.message}`);
        },
        { timeoutMs: 30_000, intervalMs: 250, what: 'status.poolSize 7 for generation 2' },
      );
      const cm = await kubectl(['get', 'configmap', `${name}-pgbouncer-config`, '-n', ns, '-o', 'json']);
      const ini = (JSON.parse(cm.stdout) as { data: Record<string, string> }).data['pgbouncer.ini'] ?? '';
      assert.match(ini, /^default_pool_size = 7$/m, 'the ConfigMap, for pods that start later');
      t.diagnostic(`PgBouncer ${before.join(', ')} at pool 3 → ${afterPods.join(', ')} at pool 7`);
    }));
});
