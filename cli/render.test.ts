// `mqtt2pg render` prints the objects the operator would create, offline, from the example pipelines.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const render = (...args: string[]) =>
  spawnSync(process.execPath, ['cli/main.ts', 'render', ...args], { cwd: root, encoding: 'utf8' });

type Obj = { kind: string; metadata: { name: string; namespace: string }; spec?: Record<string, unknown> };

test('the minimal example renders the worker, its config, RBAC, PDB and a PgBouncer', () => {
  const r = render('-f', 'manifests/examples/minimal.yaml');
  assert.equal(r.status, 0, r.stderr);
  const objs = loadAll(r.stdout) as Obj[];
  const kinds = objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
  assert.deepEqual(kinds, [
    'ConfigMap/telemetry-pgbouncer-config',
    'ConfigMap/telemetry-worker-config',
    'Deployment/telemetry-pgbouncer',
    'Deployment/telemetry-worker',
    'PodDisruptionBudget/telemetry-worker',
    'Role/telemetry-worker',
    'RoleBinding/telemetry-worker',
    'Secret/telemetry-pgbouncer-auth',
    'Service/telemetry-pgbouncer',
    'ServiceAccount/telemetry-worker',
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
