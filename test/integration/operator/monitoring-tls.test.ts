// The autoscaler's monitoring connection to PostgreSQL honours the sink's sslMode against a real TLS server
// (it used to connect with rejectUnauthorized: false whatever the mode): verify-ca refuses a certificate of a
// CA it was not given, verify-full also refuses a certificate for another host name, and the right CA is
// accepted. The target is built as the autoscaler builds it, from the pipeline and its Secrets.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { postgresTarget } from '../../../operator/autoscale/gather.ts';
import { PostgresProbe } from '../../../operator/autoscale/signals.ts';
import { pipeline } from '../../lib/pipelines.ts';
import { tlsPostgresSpec, useTlsPostgres } from '../../lib/tls-endpoints.ts';

const tls = useTlsPostgres();

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** What the probe reads with sslMode, trusting `ca`, connecting to `host`. */
async function read(sslMode: 'require' | 'verify-ca' | 'verify-full', ca: string, host = '127.0.0.1') {
  const { r } = pipeline({ sink: { postgres: tlsPostgresSpec(tls.server, { sslMode, host }) } });
  const secrets: Record<string, Record<string, string>> = {
    pg: { username: b64(tls.server.admin.user), password: b64(tls.server.admin.password) },
    'pg-ca': { 'ca.crt': b64(ca) },
  };
  const target = await postgresTarget(r, async (_ns, name) => secrets[name]);
  const probe = new PostgresProbe(target);
  try {
    return await probe.read();
  } finally {
    probe.close();
  }
}

test('verify-full and verify-ca refuse a certificate of a CA they were not given', async () => {
  await assert.rejects(read('verify-full', tls.certs.wrongCa), /self-signed certificate|unable to verify|certificate/);
  await assert.rejects(read('verify-ca', tls.certs.wrongCa), /self-signed certificate|unable to verify|certificate/);
});

test('verify-full refuses a certificate for another host name; verify-ca accepts it', async () => {
  await assert.rejects(read('verify-full', tls.certs.ca, 'localhost'), /Hostname\/IP does not match|localhost/);
  const s = await read('verify-ca', tls.certs.ca, 'localhost');
  assert.ok(s.maxConnections > 0, 'verify-ca checks the chain only');
});

test('the right CA is accepted and the counts are read', async () => {
  const s = await read('verify-full', tls.certs.ca);
  assert.ok(s.maxConnections > 0);
  // require encrypts without verifying, as libpq's require does: the wrong CA passes.
  assert.ok((await read('require', tls.certs.wrongCa)).maxConnections > 0);
});
