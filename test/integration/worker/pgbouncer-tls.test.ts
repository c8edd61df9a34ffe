// TLS between workers and their PgBouncer (spec.sink.pgbouncer.clientTlsSecretRef), with a real PgBouncer
// run from the operator's rendered pgbouncer.ini and auth Secret, in front of a TLS PostgreSQL of the test's
// own. PgBouncer refuses plaintext clients and a client that does not trust its CA; a real worker run from
// the rendered worker configuration (verify-full, PgBouncer's CA) migrates as the migration role and writes
// rows as an INSERT-only role, both through PgBouncer; the autoscaler's admin
// console TLS options (the same CA, the Service name checked while dialling an IP) are accepted.

import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { load } from 'js-yaml';
import type pg from 'pg';
import { checkPipeline } from '../../../api/check.ts';
import { WORKER_CONFIG_FILE } from '../../../api/contract.ts';
import type { ResolvedPipeline } from '../../../api/defaults.ts';
import { workerSecretKeys } from '../../../api/secret-refs.ts';
import type { IngestPipeline } from '../../../api/types.ts';
import { pgMonitoringConfig } from '../../../common/client-options.ts';
import { pgbouncerAdminTls } from '../../../operator/autoscale/monitoring-tls.ts';
import { desiredPipeline } from '../../../operator/desired.ts';
import { names } from '../../../operator/render/meta.ts';
import { PGBOUNCER_AUTH_DIR, PGBOUNCER_CA_DIR, PGBOUNCER_CONFIG_DIR } from '../../../operator/render/pgbouncer.ts';
import { PGBOUNCER_CLIENT_TLS_DIR, pgbouncerServiceName } from '../../../operator/render/pgbouncer-tls.ts';
import type { KubeObject } from '../../../operator/runtime/kube.ts';
import { eventually } from '../../lib/eventually.ts';
import { overlay } from '../../lib/pipelines.ts';
import { publish } from '../../lib/publish.ts';
import {
  connectOnce,
  makeTestCerts,
  startPgBouncer,
  type TestCerts,
  tlsPostgresSpec,
  useTlsPostgres,
} from '../../lib/tls-endpoints.ts';
import { cleanupDirs, makePipeline, type TestPipeline, WorkerProcess, writeSecrets } from '../../lib/worker-process.ts';

let bouncerCerts: TestCerts;
let bouncer: { port: number; stop(): Promise<void> } | undefined;
let p: TestPipeline;
let resolved: ResolvedPipeline;
let workerDoc: IngestPipeline;
const writer = { username: 'writer', password: 'writer-pw' };
const migrator = { username: 'migrator', password: 'migrator-pw' };

const b64 = (s: string) => Buffer.from(s).toString('base64');
const text = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

const tls = useTlsPostgres([
  `CREATE ROLE writer LOGIN PASSWORD '${writer.password}'`,
  `CREATE ROLE migrator LOGIN PASSWORD '${migrator.password}'`,
  // The writer may not create anything: the migrations go through PgBouncer as the migration role.
  'CREATE DATABASE ingest OWNER migrator',
]);

before(async () => {
  await tls.ready;
  p = makePipeline({ tag: 'bouncertls', dlq: false });
  // The name the workers dial in a cluster; PgBouncer's certificate carries it (and 127.0.0.1).
  bouncerCerts = makeTestCerts([`${names(p.name).pgbouncer}.default.svc`]);
  const doc = overlay(load(readFileSync(p.file, 'utf8')) as IngestPipeline, {
    spec: {
      sink: {
        postgres: {
          ...tlsPostgresSpec(tls.server, { sslMode: 'verify-full', database: 'ingest', credentials: 'writer' }),
          migrationCredentialsSecretRef: { name: 'migrator' },
        },
        pgbouncer: { enabled: true, clientTlsSecretRef: { name: 'pgbouncer-tls' } },
      },
    },
  });
  const checked = checkPipeline(doc);
  if ('problem' in checked) throw new Error(checked.problem.message);
  resolved = checked.resolved;
  const secretData = new Map<string, Record<string, string>>([
    ['writer', { username: b64(writer.username), password: b64(writer.password) }],
    ['migrator', { username: b64(migrator.username), password: b64(migrator.password) }],
    ['pg-ca', { 'ca.crt': b64(tls.certs.ca) }],
    ['mqtt', { username: b64('x'), password: b64('x') }],
    [
      'pgbouncer-tls',
      {
        'tls.crt': b64(bouncerCerts.serverCert),
        'tls.key': b64(bouncerCerts.serverKey),
        'ca.crt': b64(bouncerCerts.ca),
      },
    ],
  ]);
  const desired = desiredPipeline({ pipeline: doc, resolved, secretData, secretVersions: new Map() });
  assert.equal(desired.problem, undefined);
  const object = (kind: string, name: string) => {
    const o = desired.objects.find((x: KubeObject) => x.kind === kind && x.metadata.name === name) as
      | (KubeObject & { data: Record<string, string> })
      | undefined;
    if (!o) throw new Error(`${kind} ${name} not rendered`);
    return o.data;
  };
  const n = names(p.name);
  const ini = object('ConfigMap', n.pgbouncerConfig)['pgbouncer.ini'] ?? '';
  const auth = object('Secret', n.pgbouncerAuth);
  assert.match(ini, /^client_tls_sslmode = require$/m);
  bouncer = await startPgBouncer(
    ini,
    {
      'userlist.txt': text(auth['userlist.txt']),
      'users.ini': text(auth['users.ini']),
      'ca.crt': tls.certs.ca,
      'tls.crt': bouncerCerts.serverCert,
      'tls.key': bouncerCerts.serverKey,
    },
    [PGBOUNCER_AUTH_DIR, PGBOUNCER_CA_DIR, PGBOUNCER_CLIENT_TLS_DIR, PGBOUNCER_CONFIG_DIR],
  );
  workerDoc = load(object('ConfigMap', n.workerConfig)[WORKER_CONFIG_FILE] ?? '') as IngestPipeline;
});
after(async () => {
  cleanupDirs();
  await bouncer?.stop();
  if (bouncerCerts) rmSync(bouncerCerts.dir, { recursive: true, force: true });
});

const query = (config: pg.ClientConfig) => connectOnce(config);

const direct = (ssl: pg.ClientConfig['ssl']): pg.ClientConfig => ({
  host: '127.0.0.1',
  port: bouncer?.port ?? 0,
  database: 'ingest',
  user: writer.username,
  password: writer.password,
  ssl,
});

test('the worker configuration asks for verify-full against PgBouncer with its CA; workers mount only the CA', () => {
  assert.deepEqual(
    { sslMode: workerDoc.spec.sink.postgres.sslMode, ca: workerDoc.spec.sink.postgres.caSecretRef },
    { sslMode: 'verify-full', ca: { name: 'pgbouncer-tls', key: 'ca.crt' } },
  );
  assert.equal(workerDoc.spec.sink.postgres.host, pgbouncerServiceName(resolved));
  assert.deepEqual(workerSecretKeys(resolved).get('pgbouncer-tls'), ['ca.crt'], 'never the private key');
});

test('PgBouncer refuses plaintext clients and clients that do not trust its CA', async () => {
  await assert.rejects(query(direct(false)), /SSL required/);
  await assert.rejects(query(direct({ ca: bouncerCerts.wrongCa })), /self-signed certificate|unable to verify/);
  // verify-full on a name the certificate does not carry.
  await assert.rejects(query({ ...direct({ ca: bouncerCerts.ca }), host: 'localhost' }), /does not match/);
  await query(direct({ ca: bouncerCerts.ca }));
});

test("the autoscaler's admin console TLS: PgBouncer's CA, its Service name checked while dialling an IP", async () => {
  const ssl = await pgbouncerAdminTls(resolved, async (_ns, name) =>
    name === 'pgbouncer-tls' ? { 'ca.crt': b64(bouncerCerts.ca) } : undefined,
  );
  assert.ok(ssl && ssl.servername === pgbouncerServiceName(resolved));
  const target = { host: '127.0.0.1', port: bouncer?.port ?? 0, database: 'ingest', ...writer, user: writer.username };
  await query(pgMonitoringConfig({ ...target, ssl }, 'test'));
  await assert.rejects(
    query(pgMonitoringConfig({ ...target, ssl: { ...ssl, ca: bouncerCerts.wrongCa } }, 'test')),
    /self-signed certificate|unable to verify/,
  );
});

test('a worker run from the rendered configuration migrates (as the migration role) and writes through PgBouncer over verify-full TLS', async () => {
  // In a pod the worker dials the Service name; here PgBouncer listens on 127.0.0.1, which its certificate carries.
  const doc = overlay(workerDoc, { spec: { sink: { postgres: { host: '127.0.0.1', port: bouncer?.port ?? 0 } } } });
  writeFileSync(p.file, JSON.stringify(doc));
  writeSecrets(p.secretsDir, { writer, migrator, 'pgbouncer-tls': { 'ca.crt': bouncerCerts.ca } });
  const w = WorkerProcess.start(p);
  try {
    await w.waitReady();
    const sent = await publish(p.path, 'bt', { count: 100 });
    assert.equal(sent.acked, 100);
    await eventually(
      async () => {
        const counted = await connectOnce(
          tls.server.adminConfig('ingest'),
          `SELECT count(*) AS n FROM public.${p.table}`,
        );
        const n = Number(counted.rows[0].n);
        if (n !== 100) throw new Error(`${n} of 100 rows`);
      },
      { timeoutMs: 30_000, what: '100 rows through PgBouncer' },
    );
    const owner = await connectOnce(
      tls.server.adminConfig('ingest'),
      `SELECT tableowner FROM pg_tables WHERE tablename = '${p.table}'`,
    );
    assert.equal(owner.rows[0]?.tableowner, 'migrator', "PgBouncer's auth file lets the migration role through");
  } finally {
    w.kill('SIGTERM');
    await w.exited;
  }
});
