// The operator against the real kube-apiserver (operator-setup.ts): what it writes for a pipeline (every
// child, owned and labelled; PgBouncer on or off; a Deployment or a StatefulSet; an orphan of the same name
// never taken over), its status, and what it never writes.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { load } from 'js-yaml';
import type { KubeObject } from '../../../operator/runtime/kube.ts';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import {
  apply,
  childPaths,
  condition,
  markWorkloadReady,
  metricsText,
  paths,
  secretYaml,
  writersBeyondStatus,
} from '../../lib/kube.ts';
import { metricValue } from '../../lib/metrics-text.ts';
import { apiPipeline } from '../../lib/pipelines.ts';
import { client, type Deployment, decode, exists, get, OperatorUnderTest } from './operator-setup.ts';

const c = new OperatorUnderTest();

describe('operator: the children and status of an IngestPipeline', () => {
  c.hooks();

  test('a new pipeline gets every child, owned by it, and Ready=False until its workers are ready', async () => {
    await apply(c.ns, apiPipeline(c.ns, 'alpha', { replicas: 2 }));
    const p = await c.pipeline('alpha');
    for (const path of childPaths(c.ns, 'alpha')) {
      const child = await eventually(() => get(path), { what: path });
      const owner = child.metadata.ownerReferences?.[0];
      assert.equal(owner?.uid, p.metadata.uid, `${path} owned by the pipeline`);
      assert.equal(owner?.controller, true);
      assert.equal(child.metadata.labels?.['app.kubernetes.io/managed-by'], 'mqtt2pg-operator');
      assert.equal(child.metadata.labels?.['mqtt2pg.io/pipeline'], 'alpha');
    }
    const cm = await get<{ data: Record<string, string> }>(paths.configmap(c.ns, 'alpha-worker-config'));
    const doc = load(cm.data['pipeline.yaml'] ?? '') as {
      spec: { sink: { postgres: { host: string; port: number } } };
    };
    assert.equal(doc.spec.sink.postgres.host, `alpha-pgbouncer.${c.ns}.svc`);
    assert.equal(doc.spec.sink.postgres.port, 6432);
    const auth = await get<{ data: Record<string, string> }>(paths.secret(c.ns, 'alpha-pgbouncer-auth'));
    // The pipeline's user, then the operator's own admin user (its password from the admin Secret).
    const admin = await get<{ data: Record<string, string> }>(paths.secret(c.ns, 'alpha-pgbouncer-admin'));
    assert.equal(
      decode(auth.data['userlist.txt']),
      `"ingest" "first-password"\n"mqtt2pg_pgbouncer_admin" "${decode(admin.data.password)}"\n`,
    );
    const worker = await get<Deployment>(paths.statefulset(c.ns, 'alpha-worker'));
    assert.equal(worker.spec.replicas, 2);

    const status = await eventually(
      async () => {
        const s = await c.pipeline('alpha');
        assert.equal(s.status?.observedGeneration, s.metadata.generation);
        assert.equal(condition(s, 'Ready')?.status, 'False');
        return s;
      },
      { what: 'status written' },
    );
    assert.equal(condition(status, 'Degraded')?.status, 'False');
    assert.match(condition(status, 'Ready')?.reason ?? '', /PgBouncerNotReady|WorkersNotReady/);

    await markWorkloadReady(client, paths.deployment(c.ns, 'alpha-pgbouncer'));
    await eventually(
      async () => assert.equal(condition(await c.pipeline('alpha'), 'Ready')?.reason, 'WorkersNotReady'),
      {
        what: 'Ready=False WorkersNotReady once PgBouncer is ready',
      },
    );
    await markWorkloadReady(client, paths.statefulset(c.ns, 'alpha-worker'));
    const ready = await eventually(
      async () => {
        const s = await c.pipeline('alpha');
        assert.equal(condition(s, 'Ready')?.status, 'True');
        return s;
      },
      { what: 'Ready=True once the workers are ready' },
    );
    assert.equal(ready.status?.readyReplicas, 2);
    assert.equal(ready.status?.flushers, 2);
    assert.equal(ready.status?.poolSize, 10);
    assert.equal(condition(ready, 'Progressing')?.status, 'False');

    const table = await kubectl(['get', 'ingp', '-n', c.ns, 'alpha']);
    assert.match(table.stdout, /alpha\s+True\s+2\s+2/);
  });

  test('turning PgBouncer off removes its children and points workers at PostgreSQL', async () => {
    await apply(c.ns, secretYaml('gamma-pg', { username: 'g', password: 'g' }));
    await apply(c.ns, apiPipeline(c.ns, 'gamma', {}, 'gamma-pg'));
    await eventually(() => get(paths.deployment(c.ns, 'gamma-pgbouncer')), { what: 'PgBouncer created' });
    await apply(c.ns, apiPipeline(c.ns, 'gamma', { sink: { pgbouncer: { enabled: false } } }, 'gamma-pg'));
    await eventually(
      async () => {
        for (const path of [
          paths.deployment(c.ns, 'gamma-pgbouncer'),
          paths.service(c.ns, 'gamma-pgbouncer'),
          paths.configmap(c.ns, 'gamma-pgbouncer-config'),
          paths.secret(c.ns, 'gamma-pgbouncer-auth'),
        ]) {
          assert.equal(await exists(path), false, `${path} pruned`);
        }
        const cm = await get<{ data: Record<string, string> }>(paths.configmap(c.ns, 'gamma-worker-config'));
        assert.match(cm.data['pipeline.yaml'] ?? '', /host: pg\.db/);
      },
      { what: 'PgBouncer children pruned' },
    );
    const s = await c.pipeline('gamma');
    assert.equal(s.status?.poolSize, 10, 'the last pool size is kept in status, not churned');
  });

  test('the default WAL is persistent (a StatefulSet with a PVC template); Ephemeral opts into a Deployment', async () => {
    await apply(c.ns, secretYaml('delta-pg', { username: 'd', password: 'd' }));
    await apply(c.ns, apiPipeline(c.ns, 'delta', { wal: { sizeLimit: '2Gi' } }, 'delta-pg'));
    const sts = await eventually(
      () =>
        get<
          KubeObject & {
            spec: { volumeClaimTemplates: Array<{ spec: { resources: { requests: { storage: string } } } }> };
          }
        >(paths.statefulset(c.ns, 'delta-worker')),
      { what: 'StatefulSet created' },
    );
    assert.equal(sts.spec.volumeClaimTemplates[0]?.spec.resources.requests.storage, '3Gi', '1.5 × sizeLimit');
    assert.equal(await exists(paths.deployment(c.ns, 'delta-worker')), false);
    await markWorkloadReady(client, paths.deployment(c.ns, 'delta-pgbouncer'));
    await markWorkloadReady(client, paths.statefulset(c.ns, 'delta-worker'));
    await eventually(async () => assert.equal(condition(await c.pipeline('delta'), 'Ready')?.status, 'True'), {
      what: 'Ready with a StatefulSet',
    });

    await apply(c.ns, secretYaml('zeta-pg', { username: 'z', password: 'z' }));
    await apply(c.ns, apiPipeline(c.ns, 'zeta', { wal: { storage: { type: 'Ephemeral' } } }, 'zeta-pg'));
    type PodTemplate = {
      spec: {
        template: {
          spec: {
            volumes: Array<{ name: string; emptyDir?: unknown }>;
            containers: Array<{ env: Array<{ name: string; value?: string }> }>;
          };
        };
      };
    };
    const dep = await eventually(() => get<KubeObject & PodTemplate>(paths.deployment(c.ns, 'zeta-worker')), {
      what: 'Deployment created',
    });
    const pod = dep.spec.template.spec;
    assert.ok(pod.volumes.find((v) => v.name === 'wal')?.emptyDir, 'the WAL is an emptyDir');
    assert.equal(pod.containers[0]?.env.find((e) => e.name === 'MQTT2PG_IDENTITY')?.value, 'ephemeral');
    assert.equal(await exists(paths.statefulset(c.ns, 'zeta-worker')), false);
  });

  test('an object of the same name that the operator does not own is never taken over: Degraded names it', async () => {
    await apply(c.ns, secretYaml('eps-pg', { username: 'e', password: 'e' }));
    await apply(c.ns, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: eps-worker-config}\ndata: {mine: "yes"}\n');
    await apply(c.ns, apiPipeline(c.ns, 'eps', {}, 'eps-pg'));
    const p = await eventually(
      async () => {
        const p = await c.pipeline('eps');
        const degraded = condition(p, 'Degraded');
        assert.equal(degraded?.status, 'True');
        assert.equal(degraded?.reason, 'NameConflict');
        assert.match(degraded?.message ?? '', /ConfigMap eps-worker-config .*not owned by this pipeline/);
        return p;
      },
      { what: 'Degraded NameConflict' },
    );
    const cm = await get<{ data: Record<string, string> }>(paths.configmap(c.ns, 'eps-worker-config'));
    assert.deepEqual(cm.data, { mine: 'yes' }, 'the foreign ConfigMap is left as it was');
    assert.equal(cm.metadata.ownerReferences, undefined);
    // Once the user removes it, the operator creates its own.
    await kubectl(['delete', 'configmap', 'eps-worker-config', '-n', c.ns]);
    await eventually(
      async () => {
        const own = await get<{ data: Record<string, string> }>(paths.configmap(c.ns, 'eps-worker-config'));
        assert.equal(own.metadata.ownerReferences?.[0]?.uid, p.metadata.uid);
        assert.ok(own.data['pipeline.yaml']);
      },
      { what: 'own ConfigMap created after the conflict is gone', timeoutMs: 60_000 },
    );
  });

  test('the operator never writes the spec and serves its health endpoints', async () => {
    const p = await c.pipeline('alpha');
    assert.deepEqual(writersBeyondStatus(p), [], 'the operator writes only status and its finalizer');
    assert.deepEqual(p.metadata.finalizers, ['mqtt2pg.io/drain']);
    const addr = await c.op.address();
    assert.equal((await fetch(`http://${addr}/healthz`)).status, 200);
    assert.equal((await fetch(`http://${addr}/readyz`)).status, 200);
    const text = await metricsText(c.op);
    assert.ok(metricValue(text, 'mqtt2pg_operator_pipelines{condition="Ready",status="True"}') >= 2);
    assert.match(text, /mqtt2pg_operator_reconcile_duration_seconds_bucket/);
    assert.match(text, /mqtt2pg_operator_workqueue_depth/);
    // Every reconcile log line names its pipeline.
    const reconcileLines = c.op.logs.filter((l) =>
      /"msg":"(status updated|[A-Za-z]+ \S+ (created|updated|deleted))"/.test(l),
    );
    assert.ok(reconcileLines.length > 0);
    for (const l of reconcileLines) assert.match(l, /"namespace":"[^"]+","name":"[^"]+"/);
  });
});
