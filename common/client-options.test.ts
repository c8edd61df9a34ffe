// Client options from a resolved pipeline and a real secrets directory (on a temporary directory, laid out
// like mounted Secrets).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pipeline } from '../test/lib/pipelines.ts';
import { mqttClientOptions, pgClientConfig, pgMonitoringConfig, s3ClientConfig } from './client-options.ts';
import { SecretsDir } from './secrets-dir.ts';

const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const put = (secret: string, key: string, value: string) => {
  mkdirSync(join(dir, secret), { recursive: true });
  writeFileSync(join(dir, secret, key), value);
};
put('mqtt-creds', 'username', 'ingest\n');
put('mqtt-creds', 'password', 'mqtt-pw');
put('mqtt-ca', 'ca.crt', 'MQTT CA');
put('mqtt-client', 'tls.crt', 'CLIENT CERT');
put('mqtt-client', 'tls.key', 'CLIENT KEY');
put('pg-creds', 'username', 'writer\n');
put('pg-creds', 'password', 'pg-pw\n');
put('pg-ca', 'ca.crt', 'PG CA');
put('dlq-ca', 'ca.crt', 'DLQ CA');
put('s3-creds', 'accessKeyId', 'AKID');
put('s3-creds', 'secretAccessKey', 'SECRET');
const secrets = new SecretsDir(dir);

test('MQTT: credentials from the auth Secret, a client id per instance, the shared subscription, no TLS', () => {
  const { r } = pipeline();
  assert.deepEqual(mqttClientOptions(r, secrets, 'fleet-0'), {
    brokers: ['mqtt://broker.iot:1883'],
    clientId: 'mqtt2pg-fleet-0',
    subscription: '$share/fleet/t/+/d/+/evt/#',
    subscriptions: ['$share/fleet/t/+/d/+/evt/#'],
    qos: 1,
    protocolVersion: 5,
    keepaliveSeconds: r.source.keepaliveSeconds,
    sessionExpirySeconds: r.source.sessionExpirySeconds,
    receiveMaximum: r.source.receiveMaximum,
    maximumPacketSize: 1024 * 1024,
    connectTimeoutMs: r.source.connectTimeoutMs,
    username: 'ingest',
    password: 'mqtt-pw',
  });
  const anonymous = pipeline({ source: { brokers: ['mqtt://b:1883'], auth: undefined } }).r;
  const o = mqttClientOptions(anonymous, secrets, 'x'.repeat(200));
  assert.equal(o.clientId.length, 128, 'the client id is cut to what every broker accepts');
  assert.equal('username' in o || 'password' in o, false);
});

test('MQTT over TLS: CA, client certificate and server name from their Secrets; verification on unless skipped', () => {
  const source = {
    brokers: ['mqtts://broker.iot:8883'],
    tls: {
      caSecretRef: { name: 'mqtt-ca' },
      clientCertSecretRef: { name: 'mqtt-client' },
      serverName: 'broker.example.com',
    },
  };
  const o = mqttClientOptions(pipeline({ source }).r, secrets, 'fleet-0');
  assert.deepEqual(o.tls, {
    ca: Buffer.from('MQTT CA'),
    cert: Buffer.from('CLIENT CERT'),
    key: Buffer.from('CLIENT KEY'),
    servername: 'broker.example.com',
    rejectUnauthorized: true,
  });
  const skip = pipeline({ source: { brokers: ['mqtts://broker.iot:8883'], tls: { insecureSkipVerify: true } } }).r;
  assert.deepEqual(mqttClientOptions(skip, secrets, 'fleet-0').tls, { rejectUnauthorized: false });
});

const postgres = (extra: object = {}) => ({
  sink: {
    postgres: { host: 'pg-rw.db.svc', database: 'telemetry', credentialsSecretRef: { name: 'pg-creds' }, ...extra },
  },
});

test('PostgreSQL: credentials without trailing newline, application_name per role, timeouts, no TLS by default', () => {
  const { r } = pipeline(postgres());
  assert.deepEqual(pgClientConfig(r, secrets), {
    host: 'pg-rw.db.svc',
    port: 5432,
    database: 'telemetry',
    user: 'writer',
    password: 'pg-pw',
    ssl: false,
    application_name: 'mqtt2pg:fleet:flusher',
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  assert.equal(pgClientConfig(r, secrets, 'migrate').application_name, 'mqtt2pg:fleet:migrate');
  const long = pipeline(postgres({ applicationName: 'a'.repeat(60) })).r;
  assert.equal(pgClientConfig(long, secrets).application_name, `${'a'.repeat(60)}:fl`, 'what PostgreSQL keeps of it');
});

test('PostgreSQL sslMode means what it means for libpq', () => {
  const ssl = (sslMode: string, ca?: object) =>
    pgClientConfig(pipeline(postgres({ sslMode, ...(ca ? { caSecretRef: ca } : {}) })).r, secrets).ssl;
  assert.equal(ssl('disable'), false);
  assert.deepEqual(ssl('require'), { rejectUnauthorized: false });
  const verifyCa = ssl('verify-ca', { name: 'pg-ca' }) as { ca: string; checkServerIdentity: () => unknown };
  assert.equal(verifyCa.ca, 'PG CA');
  assert.equal(verifyCa.checkServerIdentity(), undefined, 'verify-ca checks the chain, not the host name');
  assert.deepEqual(ssl('verify-full', { name: 'pg-ca' }), { ca: 'PG CA' });
});

test('a Secret key that cannot be read fails naming the field that references it', () => {
  const { r } = pipeline({ sink: { postgres: { host: 'h', database: 'd', credentialsSecretRef: { name: 'nope' } } } });
  assert.throws(() => pgClientConfig(r, secrets), /spec\.sink\.postgres\.credentialsSecretRef: Secret "nope"/);
});

test("the autoscaler's monitoring connection: short timeouts, TLS verified as the target's mode says", () => {
  const ssl = { mode: 'verify-full' as const, ca: 'PG CA' };
  const target = { host: 'pg', port: 5432, database: 'telemetry', user: 'mon', password: 'pw', ssl };
  assert.deepEqual(pgMonitoringConfig(target, 'mqtt2pg-operator-autoscaler'), {
    host: 'pg',
    port: 5432,
    database: 'telemetry',
    user: 'mon',
    password: 'pw',
    ssl: { ca: 'PG CA' },
    application_name: 'mqtt2pg-operator-autoscaler',
    connectionTimeoutMillis: 3_000,
    query_timeout: 5_000,
  });
  assert.equal(pgMonitoringConfig({ ...target, ssl: false }, 'x').ssl, false);
  assert.deepEqual(pgMonitoringConfig({ ...target, ssl: { mode: 'require' } }, 'x').ssl, { rejectUnauthorized: false });
});

test('S3: credentials from their Secret, the endpoint and path style; the SDK never retries on its own', () => {
  const deadLetter = {
    s3: {
      bucket: 'dlq',
      endpoint: 'http://minio:9000',
      forcePathStyle: true,
      credentialsSecretRef: { name: 's3-creds' },
    },
  };
  assert.deepEqual(s3ClientConfig(pipeline({ deadLetter }).r, secrets), {
    region: 'us-east-1',
    forcePathStyle: true,
    endpoint: 'http://minio:9000',
    credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000, throwOnRequestTimeout: true },
  });
  // Without a credentials Secret the SDK's own chain (IRSA, instance profile, env) applies.
  assert.deepEqual(
    s3ClientConfig(pipeline({ deadLetter: { s3: { bucket: 'dlq', region: 'eu-west-1' } } }).r, secrets),
    {
      region: 'eu-west-1',
      forcePathStyle: false,
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000, throwOnRequestTimeout: true },
    },
  );
  assert.throws(() => s3ClientConfig(pipeline().r, secrets), /no dead-letter bucket/);
});

test('a TLS target may name the certificate it expects apart from the host dialled (a pod IP behind a Service)', () => {
  const ssl = { mode: 'verify-full' as const, ca: 'CA', servername: 'fleet-pgbouncer.iot.svc' };
  const target = { host: '10.0.0.7', port: 6432, database: 'pgbouncer', user: 'u', password: 'p', ssl };
  assert.deepEqual(pgMonitoringConfig(target, 'x').ssl, { ca: 'CA', servername: 'fleet-pgbouncer.iot.svc' });
});

test('S3: an https endpoint with caSecretRef trusts that CA', () => {
  const deadLetter = {
    s3: { bucket: 'dlq', endpoint: 'https://minio:9000', caSecretRef: { name: 'dlq-ca' } },
  };
  const config = s3ClientConfig(pipeline({ deadLetter }).r, secrets);
  const handler = config.requestHandler as { httpsAgent?: { ca?: Buffer } };
  assert.equal(handler.httpsAgent?.ca?.toString(), 'DLQ CA');
});

test('MQTT: a pipeline with routes subscribes to each route filter in the shared group', () => {
  const route = (name: string, level: string) => ({
    name,
    topicFilter: `${level}/+`,
    topicPattern: `${level}/{id}`,
    table: name,
    columns: [{ name: 'device', type: 'text' as const, from: 'topic.id' }],
  });
  const { r } = pipeline({ routes: [route('readings', 'reading'), route('states', 'state')] });
  assert.deepEqual(mqttClientOptions(r, secrets, 'fleet-0').subscriptions, [
    '$share/fleet/reading/+',
    '$share/fleet/state/+',
  ]);
});

test('PostgreSQL: with a migration role, the DDL connections (migrations, partition maintenance) log in as it', () => {
  put('pg-migrator', 'username', 'migrator\n');
  put('pg-migrator', 'password', 'mig-pw\n');
  const { r } = pipeline(postgres({ migrationCredentialsSecretRef: { name: 'pg-migrator' } }));
  assert.equal(pgClientConfig(r, secrets, 'migrate').user, 'migrator');
  assert.equal(pgClientConfig(r, secrets, 'partitions').user, 'migrator');
  assert.equal(pgClientConfig(r, secrets, 'partitions').password, 'mig-pw');
  assert.equal(pgClientConfig(r, secrets, 'flusher').user, 'writer');
  assert.equal(pgClientConfig(r, secrets, 'startup').user, 'writer');
});
