// Proves the test environment is made of real services: the CRD installs into a real kube-apiserver,
// the examples apply, the API server rejects invalid pipelines naming the field; PgBouncer pools in
// transaction mode; Mosquitto speaks MQTT 5 shared subscriptions and checks passwords; MinIO stores what
// the AWS SDK uploads byte for byte.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { dump } from 'js-yaml';
import mqtt from 'mqtt';
import pg from 'pg';
import type { IngestPipeline } from '../../../api/types.ts';
import { ensureCrd, kubectl, REPO_ROOT, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apiPipeline, unchecked } from '../../lib/pipelines.ts';

describe('kube-apiserver and the IngestPipeline CRD', () => {
  const ns = `env-${randomBytes(3).toString('hex')}`;

  before(async () => {
    await ensureCrd();
    for (const n of [ns, 'iot']) {
      const created = await kubectl(['create', 'namespace', n]);
      assert.ok(created.code === 0 || /AlreadyExists/.test(created.stderr), created.stderr);
    }
  });

  after(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  test('kubectl explain shows the field descriptions', async () => {
    // The API server publishes a new CRD's OpenAPI document shortly after the CRD is Established.
    const r = await eventually(
      async () => {
        const out = await kubectl(['explain', 'ingestpipelines.spec.sink.table']);
        assert.equal(out.code, 0, out.stderr);
        return out;
      },
      { what: 'kubectl explain ingestpipelines' },
    );
    assert.match(r.stdout, /Telemetry table\. Defaults to "telemetry"/);
  });

  test('every example in manifests/examples applies', async () => {
    const files = readdirSync(`${REPO_ROOT}/manifests/examples`).filter(
      (f) => f.endsWith('.yaml') && !f.startsWith('argocd'),
    );
    assert.ok(files.length >= 2);
    for (const f of files) {
      const r = await kubectl(['apply', '-f', `manifests/examples/${f}`]);
      assert.equal(r.code, 0, `${f}: ${r.stderr}`);
    }
    const list = await kubectl(['get', 'ingp', '-n', 'iot', '-o', 'name']);
    assert.match(list.stdout, /ingestpipeline\.mqtt2pg\.io\/telemetry/);
    assert.match(list.stdout, /ingestpipeline\.mqtt2pg\.io\/fleet-telemetry/);
    const table = await kubectl(['get', 'ingestpipelines', '-n', 'iot']);
    assert.match(
      table.stdout.split('\n')[0] ?? '',
      /NAME\s+READY\s+REPLICAS\s+FLUSHERS\s+RATE\s+BACKLOG\s+PAUSED\s+AGE/,
    );
  });

  const rejected: Array<[string, IngestPipeline, RegExp]> = [
    [
      'unknown field',
      unchecked(apiPipeline(ns, 'unknown'), { spec: { colour: 'blue' } }),
      /unknown field "spec\.colour"/,
    ],
    [
      'a name too long for the objects derived from it',
      apiPipeline(ns, `p${'x'.repeat(50)}`),
      /metadata\.name must be at most 45 characters/,
    ],
    [
      'bad SQL identifier',
      apiPipeline(ns, 'ident', { flusher: {}, sink: { table: 'x; drop table y' } }),
      /spec\.sink\.table: Invalid value/,
    ],
    [
      'min above max',
      apiPipeline(ns, 'bounds', { flusher: { minFlushers: 5, maxFlushers: 2 } }),
      /spec\.flusher: Invalid value.*minFlushers must not exceed flusher\.maxFlushers/,
    ],
    [
      'credentials in a broker URL',
      apiPipeline(ns, 'creds', { source: { brokers: ['mqtt://u:p@broker:1883'] } }),
      /spec\.source\.brokers: .*must not carry credentials/,
    ],
    [
      'QoS out of range',
      unchecked(apiPipeline(ns, 'qos'), { spec: { source: { qos: 2 } } }),
      /spec\.source\.qos: Unsupported value: 2/,
    ],
    ['missing sink', apiPipeline(ns, 'nosink', { sink: undefined }), /spec\.sink: Required value/],
  ];
  for (const [what, p, message] of rejected) {
    test(`the API server rejects a pipeline with ${what}, naming the field`, async () => {
      const doc = dump(p);
      const r = await kubectl(['apply', '-n', ns, '-f', '-'], doc);
      assert.notEqual(r.code, 0, `accepted:\n${doc}`);
      assert.match(r.stderr, message);
    });
  }

  test('the WAL storage type cannot change after creation', async () => {
    const walOf = (type: 'Ephemeral' | 'Persistent') => dump(apiPipeline(ns, 'walimm', { wal: { storage: { type } } }));
    const created = await kubectl(['apply', '-n', ns, '-f', '-'], walOf('Ephemeral'));
    assert.equal(created.code, 0, created.stderr);
    const r = await kubectl(['apply', '-n', ns, '-f', '-'], walOf('Persistent'));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.wal\.storage: Invalid value.*wal\.storage\.type is immutable/);
  });
});

describe('PostgreSQL behind PgBouncer', () => {
  test('PgBouncer pools in transaction mode in front of PostgreSQL 15', async () => {
    const admin = new pg.Client({ connectionString: requireEnv('PGBOUNCER_ADMIN_URL') });
    await admin.connect();
    try {
      const { rows } = await admin.query('SHOW CONFIG');
      const mode = rows.find((r: { key: string }) => r.key === 'pool_mode');
      assert.equal(mode?.value, 'transaction');
    } finally {
      await admin.end();
    }
    const client = new pg.Client({ connectionString: requireEnv('PGBOUNCER_URL') });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT current_setting($1) AS v', ['server_version_num']);
      assert.ok(Number(rows[0].v) >= 150000 && Number(rows[0].v) < 160000);
    } finally {
      await client.end();
    }
  });

  test('a wrong password is refused', async () => {
    const url = new URL(requireEnv('PGBOUNCER_URL'));
    url.password = 'wrong-password';
    const client = new pg.Client({ connectionString: url.toString() });
    await assert.rejects(client.connect(), /password authentication failed|SASL authentication failed/);
  });
});

describe('Mosquitto speaks MQTT 5', () => {
  const options = () => ({
    protocolVersion: 5 as const,
    username: requireEnv('MQTT_USERNAME'),
    password: requireEnv('MQTT_PASSWORD'),
    clientId: `env-${randomUUID()}`,
    reconnectPeriod: 0,
  });

  test('a shared subscription delivers each QoS 1 message to exactly one member', async () => {
    const url = requireEnv('MQTT_URL');
    const group = `g${randomBytes(3).toString('hex')}`;
    const topic = `t/acme/d/${randomUUID()}/evt/env`;
    const members = [await mqtt.connectAsync(url, options()), await mqtt.connectAsync(url, options())];
    const seen: string[] = [];
    const total = 40;
    const allSeen = new Promise<void>((resolve) => {
      for (const m of members) {
        m.on('message', (_t, payload) => {
          seen.push(payload.toString());
          if (seen.length === total) resolve();
        });
      }
    });
    for (const m of members) await m.subscribeAsync(`$share/${group}/${topic}`, { qos: 1 });
    const publisher = await mqtt.connectAsync(url, options());
    for (let i = 0; i < total; i++) await publisher.publishAsync(topic, String(i), { qos: 1 });
    await allSeen;
    assert.equal(new Set(seen).size, total);
    await Promise.all([...members, publisher].map((c) => c.endAsync()));
  });

  test('a wrong password is refused with the MQTT 5 reason', async () => {
    await assert.rejects(
      mqtt.connectAsync(requireEnv('MQTT_URL'), { ...options(), password: 'wrong-password' }),
      /Bad User Name or Password|Not authorized/i,
    );
  });
});

describe('MinIO stores what the AWS SDK uploads', () => {
  test('a streamed upload with the SDK default checksums reads back byte for byte', async () => {
    const s3 = new S3Client({
      endpoint: requireEnv('S3_ENDPOINT'),
      region: requireEnv('S3_REGION'),
      forcePathStyle: true,
      credentials: { accessKeyId: requireEnv('S3_ACCESS_KEY_ID'), secretAccessKey: requireEnv('S3_SECRET_ACCESS_KEY') },
    });
    const bucket = requireEnv('S3_BUCKET');
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: Error) => {
      if (!/BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(err.name)) throw err;
    });
    const body = randomBytes(200_000);
    const key = `env-test/${randomUUID()}.bin`;
    const { Readable } = await import('node:stream');
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: Readable.from([body]), ContentLength: body.length }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const back = Buffer.from(
      await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    assert.equal(back.length, body.length);
    assert.ok(back.equals(body));
    s3.destroy();
  });
});
