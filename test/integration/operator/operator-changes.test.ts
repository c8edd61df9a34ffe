// The operator against the real kube-apiserver (operator-setup.ts): how it follows changes (a spec change, a
// hand edit or deletion of a child, a missing, created or rotated Secret) and what it leaves alone (an
// unchanged pipeline across resyncs).

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, childPaths, condition, markWorkloadReady, metricsText, paths, secretYaml } from '../../lib/kube.ts';
import { metricValue } from '../../lib/metrics-text.ts';
import { apiPipeline } from '../../lib/pipelines.ts';
import { client, type Deployment, decode, exists, get, OperatorUnderTest, podHash } from './operator-setup.ts';

const c = new OperatorUnderTest();

describe('operator: following changes to a pipeline, its children and its Secrets', () => {
  c.hooks();

  // The pipeline the drift scenarios change: reconciled, its PgBouncer and workers ready.
  before(async () => {
    await apply(c.ns, apiPipeline(c.ns, 'alpha', { replicas: 2 }));
    for (const path of [paths.deployment(c.ns, 'alpha-pgbouncer'), paths.statefulset(c.ns, 'alpha-worker')]) {
      await eventually(() => get(path), { what: path });
      await markWorkloadReady(client, path);
    }
    await eventually(async () => assert.equal(condition(await c.pipeline('alpha'), 'Ready')?.status, 'True'), {
      what: 'alpha Ready=True',
    });
  });

  test('an unchanged pipeline is left alone: no child or status write across resyncs', async () => {
    const rvs = async () =>
      Promise.all(
        [paths.pipeline(c.ns, 'alpha'), ...childPaths(c.ns, 'alpha')].map(
          async (p) => (await get(p)).metadata.resourceVersion,
        ),
      );
    const before = await rvs();
    const count = async () =>
      metricValue(await metricsText(c.op), 'mqtt2pg_operator_reconciles_total{result="success"}');
    const startCount = await count();
    // --resync 1s: wait for at least three full reconciles of everything.
    await eventually(async () => assert.ok((await count()) >= startCount + 3), {
      what: 'three resyncs',
      timeoutMs: 20_000,
    });
    assert.deepEqual(await rvs(), before);
    const text = await metricsText(c.op);
    assert.ok(metricValue(text, 'mqtt2pg_operator_child_applies_total{kind="Deployment",action="Noop"}') > 0);
  });

  test('a spec change is followed: observedGeneration, children, and a pod roll through the hash', async () => {
    const before = await get<Deployment>(paths.statefulset(c.ns, 'alpha-worker'));
    // A config change (table) must roll pods; an image change changes the template directly.
    await apply(
      c.ns,
      apiPipeline(c.ns, 'alpha', { replicas: 2, image: 'registry.local/mqtt2pg:dev', sink: { table: 'fleet' } }),
    );
    const p = await c.pipeline('alpha');
    await eventually(
      async () => {
        const s = await c.pipeline('alpha');
        assert.equal(s.status?.observedGeneration, p.metadata.generation);
        const d = await get<Deployment>(paths.statefulset(c.ns, 'alpha-worker'));
        assert.equal(d.spec.template.spec.containers[0]?.image, 'registry.local/mqtt2pg:dev');
        assert.notEqual(podHash(d), podHash(before), 'config hash changed: pods roll');
        const cm = await get<{ data: Record<string, string> }>(paths.configmap(c.ns, 'alpha-worker-config'));
        assert.match(cm.data['pipeline.yaml'] ?? '', /table: fleet/);
      },
      { what: 'new generation reconciled' },
    );
    // Rolling out: the Deployment has a new generation its (simulated) controller has not seen yet.
    await eventually(async () => assert.equal(condition(await c.pipeline('alpha'), 'Progressing')?.status, 'True'), {
      what: 'Progressing=True during the rollout',
    });
    await markWorkloadReady(client, paths.statefulset(c.ns, 'alpha-worker'));
    await eventually(async () => assert.equal(condition(await c.pipeline('alpha'), 'Ready')?.status, 'True'), {
      what: 'Ready again after the rollout',
    });

    const rvsBefore = await Promise.all(
      childPaths(c.ns, 'alpha').map(async (x) => (await get(x)).metadata.resourceVersion),
    );
    const gen = (await c.pipeline('alpha')).metadata.generation;
    // kubectl apply of the same document: no new generation, no child change.
    await apply(
      c.ns,
      apiPipeline(c.ns, 'alpha', { replicas: 2, image: 'registry.local/mqtt2pg:dev', sink: { table: 'fleet' } }),
    );
    assert.equal((await c.pipeline('alpha')).metadata.generation, gen);
    const count = async () =>
      metricValue(await metricsText(c.op), 'mqtt2pg_operator_reconciles_total{result="success"}');
    const c0 = await count();
    await eventually(async () => assert.ok((await count()) >= c0 + 2), {
      what: 'two more reconciles',
      timeoutMs: 20_000,
    });
    assert.deepEqual(
      await Promise.all(childPaths(c.ns, 'alpha').map(async (x) => (await get(x)).metadata.resourceVersion)),
      rvsBefore,
    );
  });

  test('a hand edit to a child is reverted and a deleted child is recreated', async () => {
    await client.request('PATCH', paths.configmap(c.ns, 'alpha-pgbouncer-config'), {
      body: { data: { 'pgbouncer.ini': 'hacked' } },
      contentType: 'application/merge-patch+json',
    });
    await client.request('PATCH', paths.statefulset(c.ns, 'alpha-worker'), {
      body: { spec: { replicas: 7 } },
      contentType: 'application/merge-patch+json',
    });
    await eventually(
      async () => {
        const cm = await get<{ data: Record<string, string> }>(paths.configmap(c.ns, 'alpha-pgbouncer-config'));
        assert.match(cm.data['pgbouncer.ini'] ?? '', /pool_mode = transaction/);
        assert.equal((await get<Deployment>(paths.statefulset(c.ns, 'alpha-worker'))).spec.replicas, 2);
      },
      { what: 'hand edits reverted' },
    );
    const svc = await get(paths.service(c.ns, 'alpha-pgbouncer'));
    await client.request('DELETE', paths.service(c.ns, 'alpha-pgbouncer'));
    await client.request('DELETE', paths.role(c.ns, 'alpha-worker'));
    await eventually(
      async () => {
        const again = await get(paths.service(c.ns, 'alpha-pgbouncer'));
        assert.notEqual(again.metadata.uid, svc.metadata.uid);
        assert.ok(await exists(paths.role(c.ns, 'alpha-worker')));
      },
      { what: 'deleted children recreated' },
    );
  });

  test('a missing Secret: Degraded naming it; created: recovers; rotated: pods and PgBouncer roll', async () => {
    await apply(c.ns, apiPipeline(c.ns, 'beta', {}, 'beta-pg'));
    const degraded = await eventually(
      async () => {
        const s = await c.pipeline('beta');
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
      c.ns,
      '--field-selector',
      'involvedObject.name=beta',
      '-o',
      'json',
    ]);
    assert.match(events.stdout, /SecretNotFound/);
    assert.equal(await exists(paths.statefulset(c.ns, 'beta-worker')), false);

    await apply(c.ns, secretYaml('beta-pg', { username: 'beta', password: 'one' }));
    await eventually(
      async () => {
        const s = await c.pipeline('beta');
        assert.equal(condition(s, 'Degraded')?.status, 'False');
        assert.ok(await exists(paths.statefulset(c.ns, 'beta-worker')));
      },
      { what: 'recovered once the Secret exists' },
    );
    const worker = await get<Deployment>(paths.statefulset(c.ns, 'beta-worker'));
    const bouncer = await get<Deployment>(paths.deployment(c.ns, 'beta-pgbouncer'));

    await apply(c.ns, secretYaml('beta-pg', { username: 'beta', password: 'two' }));
    await eventually(
      async () => {
        assert.notEqual(podHash(await get<Deployment>(paths.statefulset(c.ns, 'beta-worker'))), podHash(worker));
        assert.notEqual(podHash(await get<Deployment>(paths.deployment(c.ns, 'beta-pgbouncer'))), podHash(bouncer));
        const auth = await get<{ data: Record<string, string> }>(paths.secret(c.ns, 'beta-pgbouncer-auth'));
        assert.match(decode(auth.data['userlist.txt']), /^"beta" "two"\n"mqtt2pg_pgbouncer_admin" "[\w-]{32}"\n$/);
      },
      { what: 'rotation rolled the workers and updated PgBouncer auth' },
    );
    // The password never leaves the Secrets: not in status, Events or ConfigMaps.
    const everything = await kubectl(['get', 'ingp,events,configmaps', '-n', c.ns, '-o', 'json']);
    assert.doesNotMatch(everything.stdout, /first-password|"two"/);
    assert.ok(!c.op.logs.some((l) => l.includes('first-password')), 'password not logged');

    await client.request('PATCH', paths.secret(c.ns, 'beta-pg'), {
      body: { data: { username: null } },
      contentType: 'application/merge-patch+json',
    });
    await eventually(
      async () => {
        const s = await c.pipeline('beta');
        assert.equal(condition(s, 'Degraded')?.reason, 'SecretKeyMissing');
        assert.match(condition(s, 'Degraded')?.message ?? '', /Secret "beta-pg" has no key "username"/);
      },
      { what: 'Degraded for the missing key' },
    );
  });
});
