// Every TLS connection a worker opens verifies what its settings say, against real TLS endpoints of the
// test's own whose certificate comes from a CA made here: PostgreSQL (sslMode verify-ca / verify-full with
// caSecretRef), the MQTT broker (source.tls: CA, serverName, insecureSkipVerify) and the S3 bucket of dead
// letters and spills (deadLetter.s3.caSecretRef). A certificate of another CA, or for another host name, is
// refused with an error naming the setting to fix; the right CA is accepted.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ResolvedPipeline } from '../../../api/defaults.ts';
import { mqttClientOptions, s3ClientConfig } from '../../../common/client-options.ts';
import { createLogger } from '../../../common/logger.ts';
import { SecretsDir } from '../../../common/secrets-dir.ts';
import { openConnection, socketErrorMessage } from '../../../worker/broker-connection.ts';
import { S3DeadLetterStore } from '../../../worker/deadletter.ts';
import type { InboundMessage } from '../../../worker/message.ts';
import { SpillStore } from '../../../worker/spill-store.ts';
import { checkPostgres, PostgresCheckError } from '../../../worker/startup-check.ts';
import { pipeline, type SpecOverrides } from '../../lib/pipelines.ts';
import {
  makeTestCerts,
  SERVER_NAME,
  startTlsMinio,
  startTlsMosquitto,
  type TestCerts,
  type TlsMinio,
  tlsPostgresSpec,
  useTlsPostgres,
} from '../../lib/tls-endpoints.ts';
import { writeSecrets } from '../../lib/worker-process.ts';

let certs: TestCerts;
const dirs: string[] = [];

before(() => {
  certs = makeTestCerts();
});
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

/** A secrets directory laid out as the worker's (DIR/<secret>/<key>). */
function secretsDir(data: Record<string, Record<string, string>>): SecretsDir {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-tls-secrets-'));
  dirs.push(dir);
  writeSecrets(dir, data);
  return new SecretsDir(dir);
}

const resolved = (spec: SpecOverrides): ResolvedPipeline => pipeline(spec).r;

describe('PostgreSQL', () => {
  const tls = useTlsPostgres();

  /** The worker's start-up check (its first connection) with sslMode, trusting `ca`, dialling `host`. */
  const check = (sslMode: 'require' | 'verify-ca' | 'verify-full', ca: string, host = '127.0.0.1') => {
    const r = resolved({ sink: { postgres: tlsPostgresSpec(tls.server, { sslMode, host }) } });
    const secrets = secretsDir({
      pg: { username: tls.server.admin.user, password: tls.server.admin.password },
      'pg-ca': { 'ca.crt': ca },
    });
    // Migrations off: the check connects and looks for the tables, which this server does not have.
    return checkPostgres(r, secrets, false, createLogger('silent'));
  };
  const tablesMissing = /table public\.telemetry is not usable/;

  test('verify-full and verify-ca refuse a certificate of another CA, naming caSecretRef; the worker stops', async () => {
    for (const mode of ['verify-full', 'verify-ca'] as const) {
      const err = await check(mode, tls.certs.wrongCa).then(
        () => assert.fail('connected'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof PostgresCheckError);
      assert.match(err.message, /not signed by a CA this client trusts .*spec\.sink\.postgres\.caSecretRef/);
      assert.equal(err.transient, false, 'a configuration mistake: the worker stops instead of waiting');
    }
  });

  test('verify-full refuses a certificate for another host name; verify-ca does not check the name', async () => {
    await assert.rejects(check('verify-full', tls.certs.ca, 'localhost'), /does not name the host dialled/);
    await assert.rejects(
      check('verify-ca', tls.certs.ca, 'localhost'),
      tablesMissing,
      'connected: only tables missing',
    );
  });

  test('the right CA is accepted (and require encrypts without verifying, as libpq does)', async () => {
    await assert.rejects(check('verify-full', tls.certs.ca), tablesMissing);
    await assert.rejects(check('require', tls.certs.wrongCa), tablesMissing);
  });
});

describe('MQTT', () => {
  let broker: { url: string; stop(): Promise<void> };
  before(async () => {
    broker = await startTlsMosquitto(certs);
  });
  after(async () => {
    await broker?.stop();
  });

  /** Opens the receiver's socket as the worker does; resolves when TLS is up, rejects with the worker's message. */
  function handshake(tls: NonNullable<SpecOverrides['source']>['tls'], ca?: string): Promise<void> {
    const r = resolved({ source: { brokers: [broker.url], ...(tls ? { tls } : {}) } });
    const secrets = secretsDir({
      'mqtt-creds': { username: 'u', password: 'p' },
      ...(ca ? { 'mqtt-ca': { 'ca.crt': ca } } : {}),
    });
    const opts = mqttClientOptions(r, secrets, 'tls-test');
    const { conn, where } = openConnection(opts, new URL(broker.url));
    return new Promise((resolve, reject) => {
      conn.socket.once('secureConnect', () => {
        conn.socket.destroy();
        resolve();
      });
      conn.socket.once('error', (err: NodeJS.ErrnoException) => reject(new Error(socketErrorMessage(where, err))));
    });
  }

  test('a broker certificate of another CA (or of no CA the system knows) is refused, naming caSecretRef', async () => {
    await assert.rejects(
      handshake({ caSecretRef: { name: 'mqtt-ca' } }, certs.wrongCa),
      /not signed by a CA this client trusts .*spec\.source\.tls\.caSecretRef/,
    );
    await assert.rejects(handshake(undefined), /not signed by a CA this client trusts/);
  });

  test('serverName: the certificate must carry it', async () => {
    await assert.rejects(
      handshake({ caSecretRef: { name: 'mqtt-ca' }, serverName: 'other.test' }, certs.ca),
      /does not name the host dialled.*source\.tls\.serverName/,
    );
    await handshake({ caSecretRef: { name: 'mqtt-ca' }, serverName: SERVER_NAME }, certs.ca);
  });

  test('the right CA is accepted; insecureSkipVerify skips verification only when set', async () => {
    await handshake({ caSecretRef: { name: 'mqtt-ca' } }, certs.ca);
    await handshake({ caSecretRef: { name: 'mqtt-ca' }, insecureSkipVerify: true }, certs.wrongCa);
    await assert.rejects(
      handshake({ caSecretRef: { name: 'mqtt-ca' }, insecureSkipVerify: false }, certs.wrongCa),
      /not signed/,
    );
  });
});

describe('S3 (dead letters and spills)', () => {
  let minio: TlsMinio;
  const bucket = 'tls-dlq';
  before(async () => {
    minio = await startTlsMinio(certs, bucket);
  });
  after(async () => {
    await minio?.stop();
  });

  const config = (ca: string | undefined) => {
    const r = resolved({
      deadLetter: {
        s3: {
          bucket,
          endpoint: minio.endpoint,
          forcePathStyle: true,
          credentialsSecretRef: { name: 's3' },
          ...(ca ? { caSecretRef: { name: 's3-ca' } } : {}),
        },
      },
    });
    const data: Record<string, Record<string, string>> = {
      s3: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
    };
    if (ca) data['s3-ca'] = { 'ca.crt': ca };
    return s3ClientConfig(r, secretsDir(data));
  };

  test('an endpoint certificate of another CA, or of no CA the system knows, is refused', async () => {
    for (const ca of [certs.wrongCa, undefined]) {
      const store = new S3DeadLetterStore(config(ca), { bucket, prefix: 'dl/', pipeline: 'fleet' });
      try {
        await assert.rejects(
          store.check(),
          /cannot reach the dead-letter store: the server's TLS certificate is not signed by a CA this client trusts .*spec\.deadLetter\.s3\.caSecretRef/,
        );
      } finally {
        store.close();
      }
      const spills = new SpillStore(config(ca), bucket);
      try {
        await assert.rejects(spills.put('spill/x', Buffer.from('x')), /self-signed|unable to verify|certificate/i);
      } finally {
        spills.close();
      }
    }
  });

  test('with the right CA, dead letters and spills are stored', async () => {
    const store = new S3DeadLetterStore(config(certs.ca), { bucket, prefix: 'dl/', pipeline: 'fleet' });
    const spills = new SpillStore(config(certs.ca), bucket);
    try {
      await store.check();
      const message = {
        topic: 't/a/d/b/evt/x',
        payload: Buffer.from('{}'),
        receivedAt: Date.now(),
        qos: 1,
        dup: false,
      };
      const key = await store.put([{ message: message as InboundMessage, error: 'rejected', attempts: 1 }]);
      assert.match(key, /^dl\/fleet\//);
      await spills.put('spill/one', Buffer.from('spilled'));
      assert.equal(Buffer.from((await spills.get('spill/one')) ?? []).toString(), 'spilled');
    } finally {
      store.close();
      spills.close();
    }
  });
});
