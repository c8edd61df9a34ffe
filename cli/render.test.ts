// `mqtt2pg render` prints the objects the operator would create, offline, from the example pipelines.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { checkPipeline } from '../api/check.ts';
import { desiredPipeline } from '../operator/desired.ts';
import { pipeline } from '../test/lib/pipelines.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const render = (...args: string[]) =>
  spawnSync(process.execPath, ['cli/main.ts', 'render', ...args], { cwd: root, encoding: 'utf8' });

type Obj = { kind: string; metadata: { name: string; namespace: string }; spec?: Record<string, unknown> };

test('the minimal example renders the worker, its config, RBAC, PDB, NetworkPolicies and a PgBouncer', () => {
  const r = render('-f', 'manifests/examples/minimal.yaml');
  assert.equal(r.status, 0, r.stderr);
  const objs = loadAll(r.stdout) as Obj[];
  const kinds = objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(kinds, [
    'ConfigMap/telemetry-pgbouncer-config',
    'ConfigMap/telemetry-worker-config',
    'Deployment/telemetry-pgbouncer',
    'NetworkPolicy/telemetry-pgbouncer',
    'NetworkPolicy/telemetry-worker',
    'PodDisruptionBudget/telemetry-worker',
    'Role/telemetry-worker',
    'RoleBinding/telemetry-worker',
    'Secret/telemetry-pgbouncer-admin',
    'Secret/telemetry-pgbouncer-auth',
    'Service/telemetry-pgbouncer',
    'ServiceAccount/telemetry-worker',
    'StatefulSet/telemetry-worker',
  ]);
  for (const o of objs) assert.equal(o.metadata.namespace, 'iot');
  // Without --secrets-dir the derived PgBouncer auth file holds no credentials.
  assert.doesNotMatch(r.stdout, /hunter2/);
});

test('a persistent WAL renders a StatefulSet with a volume claim per pod', () => {
  const r = render('-f', 'manifests/examples/production.yaml');
  assert.equal(r.status, 0, r.stderr);
  const sts = (loadAll(r.stdout) as Obj[]).find((o) => o.kind === 'StatefulSet');
  assert.ok(sts, 'a StatefulSet');
  const claims = (sts.spec?.volumeClaimTemplates ?? []) as Array<{ metadata: { name: string } }>;
  assert.equal(claims[0]?.metadata.name, 'wal');
});

test('a broken pipeline is refused with its problems, exit 2', () => {
  const r = spawnSync(process.execPath, ['cli/main.ts', 'render', '-f', '-'], {
    cwd: root,
    encoding: 'utf8',
    input:
      'apiVersion: mqtt2pg.io/v1alpha1\nkind: IngestPipeline\nmetadata: {name: x}\nspec: {source: {brokers: []}}\n',
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /spec\.source\.brokers: needs at least 1 item/);
  assert.match(r.stderr, /spec\.sink: is required/);
});

test('with --secrets-dir it prints exactly the objects the reconciler applies for the same pipeline and Secrets', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-render-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // The pipeline as the API server would hold it before its first reconcile (no uid: no owner references).
  const { p } = pipeline({ replicas: 2 });
  delete p.metadata.uid;
  const values = {
    'mqtt-creds': { username: 'm', password: 'mp' },
    'pg-creds': { username: 'u', password: 'hunter2' },
  };
  for (const [secret, keys] of Object.entries(values)) {
    mkdirSync(join(dir, 'secrets', secret), { recursive: true });
    for (const [k, v] of Object.entries(keys)) writeFileSync(join(dir, 'secrets', secret, k), v);
  }
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(p));
  const r = render('-f', join(dir, 'pipeline.json'), '--secrets-dir', join(dir, 'secrets'), '--worker-image', 'w:1');
  assert.equal(r.status, 0, r.stderr);

  // The reconciler's path: the check step, Secret data as the API serves it (base64), its images.
  const checked = checkPipeline(p);
  assert.ok('resolved' in checked);
  const secretData = new Map(
    Object.entries(values).map(([s, keys]) => [
      s,
      Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    ]),
  );
  const desired = desiredPipeline({
    pipeline: p,
    resolved: checked.resolved,
    secretData,
    images: { workerImage: 'w:1' },
  });
  assert.equal(desired.objects.length, 13);
  assert.deepEqual(loadAll(r.stdout), JSON.parse(JSON.stringify(desired.objects)));
  const auth = (loadAll(r.stdout) as Array<Obj & { data?: Record<string, string> }>).find((o) => o.kind === 'Secret');
  const userlist = Buffer.from(auth?.data?.['userlist.txt'] ?? '', 'base64').toString();
  assert.equal(userlist, '"u" "hunter2"\n', 'the auth file holds the real credentials');
});

test('a missing Secret file is named with where to put it, exit 2', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-render-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { p } = pipeline();
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify(p));
  const r = render('-f', join(dir, 'pipeline.json'), '--secrets-dir', join(dir, 'secrets'));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Secret "pg-creds" not found in namespace iot; create it \(files under .*\/<secret>\/<key>\)/);
  assert.equal(r.stdout, '');
});
