// The desired state of a pipeline: what the reconciler applies and `mqtt2pg render` prints.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipeline } from '../test/lib/pipelines.ts';
import { desiredPipeline } from './desired.ts';
import { CONFIG_HASH_ANNOTATION } from './render/meta.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secrets = (pgPassword = 'pw') =>
  new Map([
    ['mqtt-creds', { username: b64('m'), password: b64('mp') }],
    ['pg-creds', { username: b64('ingest'), password: b64(pgPassword) }],
  ]);
type Obj = {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: { replicas?: number; template?: { metadata: { annotations: Record<string, string> } } };
};
const find = (objects: unknown[], kind: string, name: string) =>
  (objects as Obj[]).find((o) => o.kind === kind && o.metadata.name === name);

test('a missing Secret blocks the pipeline: the problem names it and nothing is rendered', () => {
  const { p, r } = pipeline();
  const d = desiredPipeline({ pipeline: p, resolved: r, secretData: new Map([['mqtt-creds', {}]]) });
  assert.equal(d.problem?.reason, 'SecretNotFound');
  assert.match(d.problem?.message ?? '', /Secret "pg-creds" not found in namespace iot/);
  assert.deepEqual(d.objects, []);
  assert.deepEqual(d.sizes, { replicas: 1, flushers: r.flusher.flushers, poolSize: 10 }, 'sizes still known');
});

const versions = (pg = '1') =>
  new Map([
    ['mqtt-creds', '7'],
    ['pg-creds', pg],
  ]);

test('with the Secrets, PgBouncer authenticates with the PostgreSQL credentials and the pods hash their versions', () => {
  const { p, r } = pipeline();
  const d = desiredPipeline({ pipeline: p, resolved: r, secretData: secrets(), secretVersions: versions() });
  assert.equal(d.problem, undefined);
  assert.deepEqual(d.secretRefs.map((x) => `${x.secret}/${x.key}`).sort(), [
    'mqtt-creds/password',
    'mqtt-creds/username',
    'pg-creds/password',
    'pg-creds/username',
  ]);
  const auth = find(d.objects, 'Secret', 'fleet-pgbouncer-auth');
  assert.equal(Buffer.from(auth?.data?.['userlist.txt'] ?? '', 'base64').toString(), '"ingest" "pw"\n');
  const hash = (o: { objects: unknown[] }, kind: string, name: string) =>
    find(o.objects, kind, name)?.spec?.template?.metadata.annotations[CONFIG_HASH_ANNOTATION];
  const rotated = desiredPipeline({
    pipeline: p,
    resolved: r,
    secretData: secrets('new'),
    secretVersions: versions('2'),
  });
  assert.notEqual(hash(rotated, 'StatefulSet', 'fleet-worker'), hash(d, 'StatefulSet', 'fleet-worker'));
  assert.notEqual(hash(rotated, 'Deployment', 'fleet-pgbouncer'), hash(d, 'Deployment', 'fleet-pgbouncer'));
  // The annotations anyone who may view pods can read reveal nothing about the values: the same versions
  // with another password give the same hashes, so a guessed password cannot be checked against them.
  const guessed = desiredPipeline({
    pipeline: p,
    resolved: r,
    secretData: secrets('guess'),
    secretVersions: versions(),
  });
  assert.equal(hash(guessed, 'StatefulSet', 'fleet-worker'), hash(d, 'StatefulSet', 'fleet-worker'));
  assert.equal(hash(guessed, 'Deployment', 'fleet-pgbouncer'), hash(d, 'Deployment', 'fleet-pgbouncer'));
});

test('offline (no Secret data) nothing is checked and the auth file holds a placeholder', () => {
  const { p, r } = pipeline();
  const d = desiredPipeline({ pipeline: p, resolved: r });
  assert.equal(d.problem, undefined);
  const auth = find(d.objects, 'Secret', 'fleet-pgbouncer-auth');
  assert.match(Buffer.from(auth?.data?.['userlist.txt'] ?? '', 'base64').toString(), /^; rendered offline/);
});

test('the objects run at the sizes in effect: the autoscaler’s, within the spec bounds', () => {
  const { p, r } = pipeline({
    replicas: 2,
    autoscaling: { enabled: true, maxReplicas: 4, maxPoolSize: 30 },
    flusher: { flushers: 3, maxFlushers: 6 },
  });
  p.status = { autoscaling: { current: { replicas: 3, flushers: 5, poolSize: 20 } } };
  const d = desiredPipeline({ pipeline: p, resolved: r, secretData: secrets() });
  assert.deepEqual(d.sizes, { replicas: 3, flushers: 5, poolSize: 20 });
  assert.equal(find(d.objects, 'StatefulSet', 'fleet-worker')?.spec?.replicas, 3);
  assert.match(find(d.objects, 'ConfigMap', 'fleet-worker-config')?.data?.['pipeline.yaml'] ?? '', /flushers: 5/);
  assert.match(
    find(d.objects, 'ConfigMap', 'fleet-pgbouncer-config')?.data?.['pgbouncer.ini'] ?? '',
    /^default_pool_size = 20$/m,
  );
});

test('the operator’s default images apply unless the spec names its own', () => {
  const image = (spec: Parameters<typeof pipeline>[0]) => {
    const { p, r } = pipeline(spec);
    const images = { workerImage: 'mirror/mqtt2pg:1', allowedImages: ['own/*'] };
    const d = desiredPipeline({ pipeline: p, resolved: r, images });
    const w = find(d.objects, 'StatefulSet', 'fleet-worker') as unknown as {
      spec: { template: { spec: { containers: Array<{ image: string }> } } };
    };
    return w.spec.template.spec.containers[0]?.image;
  };
  assert.equal(image({}), 'mirror/mqtt2pg:1');
  assert.equal(image({ image: 'own/mqtt2pg:2' }), 'own/mqtt2pg:2');
});

test('a user name that would inject settings into PgBouncer’s files is refused, naming the Secret key', () => {
  const { p, r } = pipeline();
  const data = secrets();
  data.set('pg-creds', { username: b64('ingest\nadmin_users = evil'), password: b64('pw') });
  const d = desiredPipeline({ pipeline: p, resolved: r, secretData: data });
  assert.equal(d.problem?.reason, 'InvalidCredentials');
  assert.match(d.problem?.message ?? '', /Secret "pg-creds" key "username" holds a user name PgBouncer cannot list/);
  assert.deepEqual(d.objects, []);
  data.set('pg-creds', { username: b64('ingest'), password: b64('p\u0000w') });
  assert.match(
    desiredPipeline({ pipeline: p, resolved: r, secretData: data }).problem?.message ?? '',
    /key "password" holds a control character/,
  );
  data.set('pg-creds', { username: b64('ingest'), password: b64('p w"x\n') });
  assert.equal(
    desiredPipeline({ pipeline: p, resolved: r, secretData: data }).problem,
    undefined,
    'quotes and a trailing newline are fine',
  );
});

test("PgBouncer's admin console is the operator's own user's, never the pipeline's database user", () => {
  const { p, r } = pipeline();
  const d = desiredPipeline({ pipeline: p, resolved: r, secretData: secrets(), pgbouncerAdmin: 'A'.repeat(32) });
  const text = (o: { data?: Record<string, string> } | undefined, key: string) =>
    Buffer.from(o?.data?.[key] ?? '', 'base64').toString();
  const ini = (find(d.objects, 'ConfigMap', 'fleet-pgbouncer-config') as { data?: Record<string, string> }).data?.[
    'pgbouncer.ini'
  ];
  assert.match(ini ?? '', /^admin_users = mqtt2pg_pgbouncer_admin$/m);
  assert.match(ini ?? '', /^stats_users = mqtt2pg_pgbouncer_admin$/m);
  assert.doesNotMatch(ini ?? '', /ingest|%include/);
  const auth = find(d.objects, 'Secret', 'fleet-pgbouncer-auth');
  assert.equal(text(auth, 'userlist.txt'), `"ingest" "pw"\n"mqtt2pg_pgbouncer_admin" "${'A'.repeat(32)}"\n`);
  const admin = find(d.objects, 'Secret', 'fleet-pgbouncer-admin');
  assert.equal(text(admin, 'username'), 'mqtt2pg_pgbouncer_admin');
  assert.equal(text(admin, 'password'), 'A'.repeat(32));
  // The admin user's name cannot be taken by the pipeline's database user.
  const data = secrets();
  data.set('pg-creds', { username: b64('mqtt2pg_pgbouncer_admin'), password: b64('pw') });
  const taken = desiredPipeline({ pipeline: p, resolved: r, secretData: data, pgbouncerAdmin: 'A'.repeat(32) });
  assert.equal(taken.problem?.reason, 'InvalidCredentials');
  assert.match(taken.problem?.message ?? '', /the name of the operator's own PgBouncer admin user/);
});
