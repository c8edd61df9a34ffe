// The operator against the real kube-apiserver: what it writes for a pipeline, how it follows changes, what
// it leaves alone. Workload readiness is supplied by the test (no kubelet), envtest style.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dump, load } from 'js-yaml';
import type { IngestPipeline } from '../../../api/types.ts';
import { isNotFound, type KubeObject } from '../../../operator/runtime/kube.ts';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import {
  apply,
  childPaths,
  condition,
  createNamespace,
  deleteNamespace,
  ensureCrd,
  kubeClient,
  markWorkloadReady,
  metricsText,
  type OperatorProcess,
  type PipelineObject,
  paths,
  secretYaml,
  startOperator,
} from '../../lib/kube.ts';
import { metricValue } from '../../lib/metrics-text.ts';
import { apiPipeline, unchecked } from '../../lib/pipelines.ts';

const client = await kubeClient();
const get = <T = KubeObject>(path: string) => client.request<T & KubeObject>('GET', path);
const exists = async (path: string) => {
  try {
    await get(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
};
type Deployment = KubeObject & {
  spec: {
    replicas: number;
    template: { metadata: { annotations: Record<string, string> }; spec: { containers: Array<{ image: string }> } };
  };
};
const podHash = (d: Deployment) => d.spec.template.metadata.annotations['mqtt2pg.io/config-hash'];
const decode = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

describe('operator reconciles IngestPipelines', () => {
  let ns: string;
  let op: OperatorProcess;

  before(async () => {
    await ensureCrd();
    ns = await createNamespace('op');
    await apply(ns, secretYaml('pg', { username: 'ingest', password: 'first-password' }));
    op = startOperator(['--watch-namespace', ns, '--lease-namespace', ns, '--resync', '1s', '--log-level', 'debug']);
    await op.waitForLog(/caches synced/);
  });

  after(async () => {
    const code = await op?.stop();
    assert.equal(code, 0, `operator exit code; last logs:\n${op?.logs.slice(-10).join('\n')}`);
    client.close();
    if (ns) await deleteNamespace(ns);
  });

  const pipeline = (name: string) => get<PipelineObject>(paths.pipeline(ns, name));

  test('a new pipeline gets every child, owned by it, and Ready=False until its workers are ready', async () => {
    await apply(ns, apiPipeline(ns, 'alpha', { replicas: 2 }));
    const p = await pipeline('alpha');
    for (const path of childPaths(ns, 'alpha')) {
      const child = await eventually(() => get(path), { what: path });
      const owner = child.metadata.ownerReferences?.[0];
      assert.equal(owner?.uid, p.metadata.uid, `${path} owned by the pipeline`);
      assert.equal(owner?.controller, true);
      assert.equal(child.metadata.labels?.['app.kubernetes.io/managed-by'], 'mqtt2pg-operator');
      assert.equal(child.metadata.labels?.['mqtt2pg.io/pipeline'], 'alpha');
    }
    const cm = await get<{ data: Record<string, string> }>(paths.configmap(ns, 'alpha-worker-config'));
    const doc = load(cm.data['pipeline.yaml'] ?? '') as {
      spec: { sink: { postgres: { host: string; port: number } } };
    };
    assert.equal(doc.spec.sink.postgres.host, `alpha-pgbouncer.${ns}.svc`);
    assert.equal(doc.spec.sink.postgres.port, 6432);
    const auth = await get<{ data: Record<string, string> }>(paths.secret(ns, 'alpha-pgbouncer-auth'));
    assert.equal(decode(auth.data['userlist.txt']), '"ingest" "first-password"\n');
    const worker = await get<Deployment>(paths.deployment(ns, 'alpha-worker'));
    assert.equal(worker.spec.replicas, 2);

    const status = await eventually(
      async () => {
        const s = await pipeline('alpha');
        assert.equal(s.status?.observedGeneration, s.metadata.generation);
        assert.equal(condition(s, 'Ready')?.status, 'False');
        return s;
      },
      { what: 'status written' },
    );
    assert.equal(condition(status, 'Degraded')?.status, 'False');
    assert.match(condition(status, 'Ready')?.reason ?? '', /PgBouncerNotReady|WorkersNotReady/);

    await markWorkloadReady(client, paths.deployment(ns, 'alpha-pgbouncer'));
    await eventually(async () => assert.equal(condition(await pipeline('alpha'), 'Ready')?.reason, 'WorkersNotReady'), {
      what: 'Ready=False WorkersNotReady once PgBouncer is ready',
    });
    await markWorkloadReady(client, paths.deployment(ns, 'alpha-worker'));
    const ready = await eventually(
      async () => {
        const s = await pipeline('alpha');
        assert.equal(condition(s, 'Ready')?.status, 'True');
        return s;
      },
      { what: 'Ready=True once the workers are ready' },
    );
    assert.equal(ready.status?.readyReplicas, 2);
    assert.equal(ready.status?.flushers, 2);
    assert.equal(ready.status?.poolSize, 10);
    assert.equal(condition(ready, 'Progressing')?.status, 'False');

    const table = await kubectl(['get', 'ingp', '-n', ns, 'alpha']);
    assert.match(table.stdout, /alpha\s+True\s+2\s+2/);
  });

  test('an unchanged pipeline is left alone: no child or status write across resyncs', async () => {
    const rvs = async () =>
      Promise.all(
        [paths.pipeline(ns, 'alpha'), ...childPaths(ns, 'alpha')].map(
          async (p) => (await get(p)).metadata.resourceVersion,
        ),
      );
    const before = await rvs();
    const count = async () => metricValue(await metricsText(op), 'mqtt2pg_operator_reconciles_total{result="success"}');
    const startCount = await count();
    // --resync 1s: wait for at least three full reconciles of everything.
    await eventually(async () => assert.ok((await count()) >= startCount + 3), {
      what: 'three resyncs',
      timeoutMs: 20_000,
    });
    assert.deepEqual(await rvs(), before);
    const text = await metricsText(op);
    assert.ok(metricValue(text, 'mqtt2pg_operator_child_applies_total{kind="Deployment",action="Noop"}') > 0);
  });

  test('a spec change is followed: observedGeneration, children, and a pod roll through the hash', async () => {
    const before = await get<Deployment>(paths.deployment(ns, 'alpha-worker'));
    // A config change (table) must roll pods; an image change changes the template directly.
    await apply(
      ns,
      apiPipeline(ns, 'alpha', { replicas: 2, image: 'registry.local/mqtt2pg:dev', sink: { table: 'fleet' } }),
    );
    const p = await pipeline('alpha');
    await eventually(
      async () => {
        const s = await pipeline('alpha');
        assert.equal(s.status?.observedGeneration, p.metadata.generation);
        const d = await get<Deployment>(paths.deployment(ns, 'alpha-worker'));
        assert.equal(d.spec.template.spec.containers[0]?.image, 'registry.local/mqtt2pg:dev');
        assert.notEqual(podHash(d), podHash(before), 'config hash changed: pods roll');
        const cm = await get<{ data: Record<string, string> }>(paths.configmap(ns, 'alpha-worker-config'));
        assert.match(cm.data['pipeline.yaml'] ?? '', /table: fleet/);
      },
      { what: 'new generation reconciled' },
    );
    // Rolling out: the Deployment has a new generation its (simulated) controller has not seen yet.
    await eventually(async () => assert.equal(condition(await pipeline('alpha'), 'Progressing')?.status, 'True'), {
      what: 'Progressing=True during the rollout',
    });
    await markWorkloadReady(client, paths.deployment(ns, 'alpha-worker'));
    await eventually(async () => assert.equal(condition(await pipeline('alpha'), 'Ready')?.status, 'True'), {
      what: 'Ready again after the rollout',
    });

    const rvsBefore = await Promise.all(
      childPaths(ns, 'alpha').map(async (x) => (await get(x)).metadata.resourceVersion),
    );
    const gen = (await pipeline('alpha')).metadata.generation;
    // kubectl apply of the same document: no new generation, no child change.
    await apply(
      ns,
      apiPipeline(ns, 'alpha', { replicas: 2, image: 'registry.local/mqtt2pg:dev', sink: { table: 'fleet' } }),
    );
    assert.equal((await pipeline('alpha')).metadata.generation, gen);
    const count = async () => metricValue(await metricsText(op), 'mqtt2pg_operator_reconciles_total{result="success"}');
    const c0 = await count();
    await eventually(async () => assert.ok((await count()) >= c0 + 2), {
      what: 'two more reconciles',
      timeoutMs: 20_000,
    });
    assert.deepEqual(
      await Promise.all(childPaths(ns, 'alpha').map(async (x) => (await get(x)).metadata.resourceVersion)),
      rvsBefore,
    );
  });

  test('a hand edit to a child is reverted and a deleted child is recreated', async () => {
    await client.request('PATCH', paths.configmap(ns, 'alpha-pgbouncer-config'), {
      body: { data: { 'pgbouncer.ini': 'hacked' } },
      contentType: 'application/merge-patch+json',
    });
    await client.request('PATCH', paths.deployment(ns, 'alpha-worker'), {
      body: { spec: { replicas: 7 } },
      contentType: 'application/merge-patch+json',
    });
    await eventually(
      async () => {
        const cm = await get<{ data: Record<string, string> }>(paths.configmap(ns, 'alpha-pgbouncer-config'));
        assert.match(cm.data['pgbouncer.ini'] ?? '', /pool_mode = transaction/);
        assert.equal((await get<Deployment>(paths.deployment(ns, 'alpha-worker'))).spec.replicas, 2);
      },
      { what: 'hand edits reverted' },
    );
    const svc = await get(paths.service(ns, 'alpha-pgbouncer'));
    await client.request('DELETE', paths.service(ns, 'alpha-pgbouncer'));
    await client.request('DELETE', paths.role(ns, 'alpha-worker'));
    await eventually(
      async () => {
        const again = await get(paths.service(ns, 'alpha-pgbouncer'));
        assert.notEqual(again.metadata.uid, svc.metadata.uid);
        assert.ok(await exists(paths.role(ns, 'alpha-worker')));
      },
      { what: 'deleted children recreated' },
    );
  });

  test('a missing Secret: Degraded naming it; created: recovers; rotated: pods and PgBouncer roll', async () => {
    await apply(ns, apiPipeline(ns, 'beta', {}, 'beta-pg'));
    const degraded = await eventually(
      async () => {
        const s = await pipeline('beta');
        assert.equal(condition(s, 'Degraded')?.status, 'True');
        return s;
      },
      { what: 'Degraded for the missing Secret' },
    );
    assert.equal(condition(degraded, 'Degraded')?.reason, 'SecretNotFound');
    assert.match(
      condition(degraded, 'Degraded')?.message ?? '',
      /spec\.sink\.postgres\.credentialsSecretRef: Secret "beta-pg" not found/,
    );
    assert.equal(condition(degraded, 'Ready')?.status, 'False');
    const events = await kubectl([
      'get',
      'events',
      '-n',
      ns,
      '--field-selector',
      'involvedObject.name=beta',
      '-o',
      'json',
    ]);
    assert.match(events.stdout, /SecretNotFound/);
    assert.equal(await exists(paths.deployment(ns, 'beta-worker')), false);

    await apply(ns, secretYaml('beta-pg', { username: 'beta', password: 'one' }));
    await eventually(
      async () => {
        const s = await pipeline('beta');
        assert.equal(condition(s, 'Degraded')?.status, 'False');
        assert.ok(await exists(paths.deployment(ns, 'beta-worker')));
      },
      { what: 'recovered once the Secret exists' },
    );
    const worker = await get<Deployment>(paths.deployment(ns, 'beta-worker'));
    const bouncer = await get<Deployment>(paths.deployment(ns, 'beta-pgbouncer'));

    await apply(ns, secretYaml('beta-pg', { username: 'beta', password: 'two' }));
    await eventually(
      async () => {
        assert.notEqual(podHash(await get<Deployment>(paths.deployment(ns, 'beta-worker'))), podHash(worker));
        assert.notEqual(podHash(await get<Deployment>(paths.deployment(ns, 'beta-pgbouncer'))), podHash(bouncer));
        const auth = await get<{ data: Record<string, string> }>(paths.secret(ns, 'beta-pgbouncer-auth'));
        assert.equal(decode(auth.data['userlist.txt']), '"beta" "two"\n');
      },
      { what: 'rotation rolled the workers and updated PgBouncer auth' },
    );
    // The password never leaves the Secrets: not in status, Events or ConfigMaps.
    const everything = await kubectl(['get', 'ingp,events,configmaps', '-n', ns, '-o', 'json']);
    assert.doesNotMatch(everything.stdout, /first-password|"two"/);
    assert.ok(!op.logs.some((l) => l.includes('first-password')), 'password not logged');

    await client.request('PATCH', paths.secret(ns, 'beta-pg'), {
      body: { data: { username: null } },
      contentType: 'application/merge-patch+json',
    });
    await eventually(
      async () => {
        const s = await pipeline('beta');
        assert.equal(condition(s, 'Degraded')?.reason, 'SecretKeyMissing');
        assert.match(condition(s, 'Degraded')?.message ?? '', /Secret "beta-pg" has no key "username"/);
      },
      { what: 'Degraded for the missing key' },
    );
  });

  test('turning PgBouncer off removes its children and points workers at PostgreSQL', async () => {
    await apply(ns, secretYaml('gamma-pg', { username: 'g', password: 'g' }));
    await apply(ns, apiPipeline(ns, 'gamma', {}, 'gamma-pg'));
    await eventually(() => get(paths.deployment(ns, 'gamma-pgbouncer')), { what: 'PgBouncer created' });
    await apply(ns, apiPipeline(ns, 'gamma', { sink: { pgbouncer: { enabled: false } } }, 'gamma-pg'));
    await eventually(
      async () => {
        for (const path of [
          paths.deployment(ns, 'gamma-pgbouncer'),
          paths.service(ns, 'gamma-pgbouncer'),
          paths.configmap(ns, 'gamma-pgbouncer-config'),
          paths.secret(ns, 'gamma-pgbouncer-auth'),
        ]) {
          assert.equal(await exists(path), false, `${path} pruned`);
        }
        const cm = await get<{ data: Record<string, string> }>(paths.configmap(ns, 'gamma-worker-config'));
        assert.match(cm.data['pipeline.yaml'] ?? '', /host: pg\.db/);
      },
      { what: 'PgBouncer children pruned' },
    );
    const s = await pipeline('gamma');
    assert.equal(s.status?.poolSize, 10, 'the last pool size is kept in status, not churned');
  });

  test('a persistent WAL gives a StatefulSet with a PVC template', async () => {
    await apply(ns, secretYaml('delta-pg', { username: 'd', password: 'd' }));
    await apply(ns, apiPipeline(ns, 'delta', { wal: { storage: { type: 'Persistent', size: '3Gi' } } }, 'delta-pg'));
    const sts = await eventually(
      () =>
        get<
          KubeObject & {
            spec: { volumeClaimTemplates: Array<{ spec: { resources: { requests: { storage: string } } } }> };
          }
        >(paths.statefulset(ns, 'delta-worker')),
      { what: 'StatefulSet created' },
    );
    assert.equal(sts.spec.volumeClaimTemplates[0]?.spec.resources.requests.storage, '3Gi');
    assert.equal(await exists(paths.deployment(ns, 'delta-worker')), false);
    await markWorkloadReady(client, paths.deployment(ns, 'delta-pgbouncer'));
    await markWorkloadReady(client, paths.statefulset(ns, 'delta-worker'));
    await eventually(async () => assert.equal(condition(await pipeline('delta'), 'Ready')?.status, 'True'), {
      what: 'Ready with a StatefulSet',
    });
  });

  test('an object of the same name that the operator does not own is adopted', async () => {
    await apply(ns, secretYaml('eps-pg', { username: 'e', password: 'e' }));
    await apply(ns, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: eps-worker-config}\ndata: {stale: "yes"}\n');
    await apply(ns, apiPipeline(ns, 'eps', {}, 'eps-pg'));
    const p = await pipeline('eps');
    await eventually(
      async () => {
        const cm = await get<{ data: Record<string, string> }>(paths.configmap(ns, 'eps-worker-config'));
        assert.equal(cm.metadata.ownerReferences?.[0]?.uid, p.metadata.uid);
        assert.ok(cm.data['pipeline.yaml']);
      },
      { what: 'orphan adopted' },
    );
  });

  test('the API server rejects invalid pipelines, naming the field', async () => {
    const cases: Array<[IngestPipeline, RegExp]> = [
      [apiPipeline(ns, 'bad1', { replicas: -1 }), /spec\.replicas: Invalid value: -1/],
      [apiPipeline(ns, 'bad2', { flusher: { flushers: 0 } }), /spec\.flusher\.flushers: Invalid value/],
      [apiPipeline(ns, 'bad3', { wal: { sizeLimit: 'lots' } }), /spec\.wal\.sizeLimit/],
      [
        unchecked(apiPipeline(ns, 'bad4'), { spec: { sink: { postgres: { password: 'x' } } } }),
        /spec\.sink\.postgres\.password|unknown field "spec\.sink\.postgres\.password"/,
      ],
    ];
    for (const [p, message] of cases) {
      const doc = dump(p);
      const r = await kubectl(['apply', '-n', ns, '-f', '-'], doc);
      assert.notEqual(r.code, 0, `accepted:\n${doc}`);
      assert.match(r.stderr, message);
    }
  });

  test('a pipeline the schema accepts but the loader refuses is Degraded with the field named', async () => {
    // flushers within the schema bounds but above the default maxFlushers (8): only the loader catches it.
    await apply(ns, apiPipeline(ns, 'zeta', { flusher: { flushers: 12 } }));
    await eventually(
      async () => {
        const s = await pipeline('zeta');
        assert.equal(condition(s, 'Degraded')?.reason, 'InvalidSpec');
        assert.match(condition(s, 'Degraded')?.message ?? '', /spec\.flusher\.flushers: must lie within/);
      },
      { what: 'Degraded InvalidSpec' },
    );
  });

  test('the operator never writes the spec and serves its health endpoints', async () => {
    const p = await pipeline('alpha');
    const managers = (p.metadata.managedFields as Array<{ manager: string; subresource?: string }>) ?? [];
    for (const m of managers.filter((x) => !x.manager.startsWith('kubectl'))) {
      assert.equal(m.subresource, 'status', `${m.manager} wrote only status`);
    }
    const addr = await op.address();
    assert.equal((await fetch(`http://${addr}/healthz`)).status, 200);
    assert.equal((await fetch(`http://${addr}/readyz`)).status, 200);
    const text = await metricsText(op);
    assert.ok(metricValue(text, 'mqtt2pg_operator_pipelines{condition="Ready",status="True"}') >= 2);
    assert.match(text, /mqtt2pg_operator_reconcile_duration_seconds_bucket/);
    assert.match(text, /mqtt2pg_operator_workqueue_depth/);
    // Every reconcile log line names its pipeline.
    const reconcileLines = op.logs.filter((l) =>
      /"msg":"(status updated|[A-Za-z]+ \S+ (created|updated|deleted))"/.test(l),
    );
    assert.ok(reconcileLines.length > 0);
    for (const l of reconcileLines) assert.match(l, /"namespace":"[^"]+","name":"[^"]+"/);
  });
});
