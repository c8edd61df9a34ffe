import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1PodSpec } from '@kubernetes/client-node';
import { pipeline } from '../../test/lib/pipelines.ts';
import { desiredPipeline } from '../desired.ts';
import type { KubeObject } from '../runtime/kube.ts';
import { workerPipelineDocument } from './config.ts';
import { CONFIG_HASH_ANNOTATION } from './meta.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const tlsSpec = {
  sink: {
    postgres: {
      host: 'pg-rw.db.svc',
      database: 'telemetry',
      sslMode: 'verify-full' as const,
      caSecretRef: { name: 'pg-ca' },
      credentialsSecretRef: { name: 'pg-creds' },
      migrationCredentialsSecretRef: { name: 'pg-migrator' },
    },
    pgbouncer: { clientTlsSecretRef: { name: 'fleet-pgbouncer-tls', caKey: 'issuer.crt' } },
  },
};
const secretData = () =>
  new Map<string, Record<string, string>>([
    ['mqtt-creds', { username: b64('m'), password: b64('m') }],
    ['pg-creds', { username: b64('writer'), password: b64('w') }],
    ['pg-migrator', { username: b64('migrator'), password: b64('m"x') }],
    ['pg-ca', { 'ca.crt': b64('CA') }],
    ['fleet-pgbouncer-tls', { 'tls.crt': b64('C'), 'tls.key': b64('K'), 'issuer.crt': b64('I') }],
  ]);

function render(spec = tlsSpec, versions = new Map<string, string>()) {
  const { p, r } = pipeline(spec);
  const d = desiredPipeline({ pipeline: p, resolved: r, secretData: secretData(), secretVersions: versions });
  assert.equal(d.problem, undefined);
  const find = (kind: string, name: string) => {
    const o = d.objects.find((x: KubeObject) => x.kind === kind && x.metadata.name === name);
    if (!o) throw new Error(`${kind} ${name} missing`);
    return o as KubeObject & Record<string, unknown>;
  };
  return { p, r, find };
}

test('with clientTlsSecretRef PgBouncer requires TLS with the mounted certificate and key (never the CA key)', () => {
  const { find } = render();
  const ini = (find('ConfigMap', 'fleet-pgbouncer-config').data as Record<string, string>)['pgbouncer.ini'] ?? '';
  assert.match(ini, /^client_tls_sslmode = require$/m);
  assert.match(ini, /^client_tls_cert_file = \/etc\/pgbouncer-client-tls\/tls\.crt$/m);
  assert.match(ini, /^client_tls_key_file = \/etc\/pgbouncer-client-tls\/tls\.key$/m);
  const pod = (find('Deployment', 'fleet-pgbouncer').spec as { template: { spec: V1PodSpec } }).template.spec;
  const volume = pod.volumes?.find((v) => v.name === 'client-tls');
  assert.deepEqual(volume?.secret?.items, [
    { key: 'tls.crt', path: 'tls.crt' },
    { key: 'tls.key', path: 'tls.key' },
  ]);
  assert.ok(pod.containers[0]?.volumeMounts?.some((m) => m.mountPath === '/etc/pgbouncer-client-tls'));
});

test("the workers keep the pipeline's sslMode towards PgBouncer and trust the certificate Secret's CA key only", () => {
  const { p, r, find } = render();
  const pg = workerPipelineDocument(p, r, { flushers: 2 }).spec.sink.postgres;
  assert.equal(pg.host, 'fleet-pgbouncer.iot.svc');
  assert.equal(pg.sslMode, 'verify-full');
  assert.deepEqual(pg.caSecretRef, { name: 'fleet-pgbouncer-tls', key: 'issuer.crt' });
  const pod = (find('StatefulSet', 'fleet-worker').spec as { template: { spec: V1PodSpec } }).template.spec;
  const tlsVolume = pod.volumes?.find((v) => v.secret?.secretName === 'fleet-pgbouncer-tls');
  assert.deepEqual(tlsVolume?.secret?.items, [{ key: 'issuer.crt', path: 'issuer.crt' }]);
});

test('without clientTlsSecretRef the hop stays plaintext and nothing of TLS is rendered', () => {
  const { p, r } = pipeline({ sink: { postgres: { sslMode: 'verify-full', caSecretRef: { name: 'pg-ca' } } } });
  const pg = workerPipelineDocument(p, r, { flushers: 2 }).spec.sink.postgres;
  assert.equal(pg.sslMode, 'disable');
  assert.equal(pg.caSecretRef, undefined);
});

test('the migration role is in PgBouncer auth file; a renewed certificate rolls PgBouncer', () => {
  const { find } = render();
  const userlist = Buffer.from(
    (find('Secret', 'fleet-pgbouncer-auth').data as Record<string, string>)['userlist.txt'] ?? '',
    'base64',
  ).toString();
  assert.equal(userlist, '"writer" "w"\n"migrator" "m""x"\n');
  const hash = (versions: Map<string, string>) =>
    (
      render(tlsSpec, versions).find('Deployment', 'fleet-pgbouncer').spec as {
        template: { metadata: { annotations: Record<string, string> } };
      }
    ).template.metadata.annotations[CONFIG_HASH_ANNOTATION];
  assert.notEqual(hash(new Map([['fleet-pgbouncer-tls', '1']])), hash(new Map([['fleet-pgbouncer-tls', '2']])));
  assert.notEqual(hash(new Map([['pg-migrator', '1']])), hash(new Map([['pg-migrator', '2']])));
});

test('a migration user name PgBouncer cannot list is refused naming its field', () => {
  const { p, r } = pipeline(tlsSpec);
  const data = secretData();
  data.set('pg-migrator', { username: b64('mig\nadmin_users = x'), password: b64('p') });
  const d = desiredPipeline({ pipeline: p, resolved: r, secretData: data, secretVersions: new Map() });
  assert.match(d.problem?.message ?? '', /^spec\.sink\.postgres\.migrationCredentialsSecretRef: Secret "pg-migrator"/);
  assert.deepEqual(d.objects, []);
});
