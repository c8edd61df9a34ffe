import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1PodSpec } from '@kubernetes/client-node';
import { pipeline } from '../../test/lib/pipelines.ts';
import { renderAll } from './index.ts';
import { CONFIG_HASH_ANNOTATION, DEFAULT_PGBOUNCER_IMAGE } from './meta.ts';
import { pgbouncerIni, renderPgBouncer, userlistLine } from './pgbouncer.ts';

const creds = { username: 'ingest', password: 's3cr"et' };

function parts(objs: ReturnType<typeof renderPgBouncer>) {
  const [cm, secret, deploy, svc] = objs as unknown as [
    { kind: string; data: Record<string, string> },
    { kind: string; data: Record<string, string> },
    {
      kind: string;
      spec: { replicas: number; template: { metadata: { annotations: Record<string, string> }; spec: V1PodSpec } };
    },
    {
      kind: string;
      metadata: { name: string };
      spec: { ports: Array<{ port: number }>; selector: Record<string, string> };
    },
  ];
  return { cm, secret, deploy, svc };
}

test('pgbouncer.ini pools transactions in front of the spec database with the spec pool size', () => {
  const { r } = pipeline({
    sink: {
      postgres: {
        host: 'pg-rw.db.svc',
        port: 5433,
        database: 'telemetry',
        sslMode: 'require',
        credentialsSecretRef: { name: 'pg-creds' },
      },
      pgbouncer: { poolSize: 25, maxClientConn: 3000 },
    },
  });
  const ini = pgbouncerIni(r, 25);
  assert.match(ini, /^telemetry = host=pg-rw\.db\.svc port=5433 dbname=telemetry$/m);
  assert.match(ini, /^pool_mode = transaction$/m);
  assert.match(ini, /^default_pool_size = 25$/m);
  assert.match(ini, /^max_client_conn = 3000$/m);
  assert.match(ini, /^listen_port = 6432$/m);
  assert.match(ini, /^auth_type = scram-sha-256$/m);
  assert.match(ini, /^auth_file = \/etc\/pgbouncer-auth\/userlist\.txt$/m);
  assert.match(ini, /^server_tls_sslmode = require$/m);
});

test('the auth Secret holds the credentials; the ConfigMap never does', () => {
  const { p, r } = pipeline();
  const { cm, secret } = parts(
    renderPgBouncer(p, r, { image: DEFAULT_PGBOUNCER_IMAGE, poolSize: 10, credentials: creds, secretVersions: null }),
  );
  assert.equal(secret.kind, 'Secret');
  const userlist = Buffer.from(secret.data['userlist.txt'] ?? '', 'base64').toString();
  assert.equal(userlist, '"ingest" "s3cr""et"\n');
  assert.doesNotMatch(JSON.stringify(cm), /s3cr|ingest/);
});

test('userlist lines double embedded quotes', () => {
  assert.equal(userlistLine({ username: 'a"b', password: 'p' }), '"a""b" "p"\n');
});

const poolHash = (spec: Parameters<typeof pipeline>[0], version: string, poolSize: number, password = 'pw') => {
  const { p, r } = pipeline(spec);
  const input = {
    image: 'x',
    poolSize,
    credentials: { username: 'u', password },
    secretVersions: [['pg-creds', version]],
  };
  return parts(renderPgBouncer(p, r, input as never)).deploy.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];
};

test('the Deployment rolls when the credentials Secret changes; its hash says nothing about the password', () => {
  for (const spec of [{}, { autoscaling: { enabled: true } }]) {
    assert.equal(poolHash(spec, 'a', 10), poolHash(spec, 'a', 10));
    assert.notEqual(poolHash(spec, 'a', 10), poolHash(spec, 'b', 10), 'a new Secret version rolls the pods');
    assert.equal(poolHash(spec, 'a', 10, 'pw'), poolHash(spec, 'a', 10, 'guess'), 'the password is not an input');
  }
});

test('with autoscaling on, a pool size change does not roll PgBouncer: the autoscaler applies it live', () => {
  const on = { autoscaling: { enabled: true } };
  assert.equal(poolHash(on, 'a', 10), poolHash(on, 'a', 11));
});

test('with autoscaling off, a pool size change rolls PgBouncer: nothing else tells the running pods', () => {
  assert.notEqual(poolHash({}, 'a', 10), poolHash({}, 'a', 11));
  // The user's path: an edit of spec.sink.pgbouncer.poolSize, rendered the way the operator renders it.
  const deployHash = (poolSize: number) => {
    const { p, r } = pipeline({
      sink: {
        postgres: { host: 'pg', database: 'd', credentialsSecretRef: { name: 'pg-creds' } },
        pgbouncer: { poolSize },
      },
    });
    const d = renderAll(p, r, { pgCredentials: creds }).find(
      (o) => o.metadata.name === 'fleet-pgbouncer' && o.kind === 'Deployment',
    ) as unknown as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
    return d.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];
  };
  assert.notEqual(deployHash(10), deployHash(12));
  // Turning autoscaling on or off rolls too: the pods start on the size the ConfigMap then holds.
  assert.notEqual(poolHash({}, 'a', 10), poolHash({ autoscaling: { enabled: true } }, 'a', 10));
});

test('the Service exposes 6432 to the workers and selects only PgBouncer pods', () => {
  const { p, r } = pipeline({
    sink: {
      postgres: { host: 'pg', database: 'd', credentialsSecretRef: { name: 'pg-creds' } },
      pgbouncer: { replicas: 2 },
    },
  });
  const { svc, deploy } = parts(
    renderPgBouncer(p, r, { image: 'img', poolSize: 10, credentials: creds, secretVersions: null }),
  );
  assert.equal(svc.metadata.name, 'fleet-pgbouncer');
  assert.deepEqual(
    svc.spec.ports.map((x) => x.port),
    [6432],
  );
  assert.equal(svc.spec.selector['app.kubernetes.io/component'], 'pgbouncer');
  assert.equal(deploy.spec.replicas, 2);
  const c = deploy.spec.template.spec.containers[0];
  assert.deepEqual(c?.command, ['pgbouncer', '/etc/pgbouncer/pgbouncer.ini']);
  assert.equal(c?.securityContext?.readOnlyRootFilesystem, true);
});

test('a CA for PostgreSQL is mounted into PgBouncer and named in its config', () => {
  const { p, r } = pipeline({
    sink: {
      postgres: {
        host: 'pg',
        database: 'd',
        sslMode: 'verify-full',
        caSecretRef: { name: 'pg-ca' },
        credentialsSecretRef: { name: 'pg-creds' },
      },
    },
  });
  const { cm, deploy } = parts(
    renderPgBouncer(p, r, { image: 'img', poolSize: 10, credentials: creds, secretVersions: null }),
  );
  assert.match(cm.data['pgbouncer.ini'] ?? '', /^server_tls_ca_file = \/etc\/pgbouncer-server-ca\/ca\.crt$/m);
  assert.equal(deploy.spec.template.spec.volumes?.find((v) => v.name === 'server-ca')?.secret?.secretName, 'pg-ca');
});

test('the image defaults to the operator default and follows spec.sink.pgbouncer.image', () => {
  const image = (spec: Parameters<typeof pipeline>[0], opts = {}) => {
    const { p, r } = pipeline(spec);
    const d = renderAll(p, r, opts).find(
      (o) => o.metadata.name === 'fleet-pgbouncer' && o.kind === 'Deployment',
    ) as unknown as {
      spec: { template: { spec: V1PodSpec } };
    };
    return d.spec.template.spec.containers[0]?.image;
  };
  assert.equal(image({}), DEFAULT_PGBOUNCER_IMAGE);
  assert.equal(image({}, { pgbouncerImage: 'mirror/pgbouncer:1' }), 'mirror/pgbouncer:1');
  assert.equal(
    image({
      sink: {
        postgres: { host: 'pg', database: 'd', credentialsSecretRef: { name: 'pg-creds' } },
        pgbouncer: { image: 'own/pgb:2' },
      },
    }),
    'own/pgb:2',
  );
});

test('with PgBouncer disabled nothing of it is rendered', () => {
  const { p, r } = pipeline({
    sink: {
      postgres: { host: 'pg', database: 'd', credentialsSecretRef: { name: 'pg-creds' } },
      pgbouncer: { enabled: false },
    },
  });
  assert.deepEqual(
    renderAll(p, r).filter((o) => o.metadata.name.includes('pgbouncer')),
    [],
  );
});
