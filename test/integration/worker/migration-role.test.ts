// Separate migration credentials (sink.postgres.migrationCredentialsSecretRef): a real worker whose own role
// holds no right but CONNECT starts, its start-up migrations run as the migration role (which owns the
// tables and grants the writer USAGE and INSERT), and published messages land as rows. The writer's role is
// refused DDL. The PostgreSQL is a TLS one of the test's own, reached with verify-full and the right CA.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { eventually } from '../../lib/eventually.ts';
import { publish } from '../../lib/publish.ts';
import { tlsPostgresSpec, useTlsPostgres } from '../../lib/tls-endpoints.ts';
import { cleanupDirs, makePipeline, pipelineCommand, WorkerProcess, writeSecrets } from '../../lib/worker-process.ts';

const tls = useTlsPostgres([
  "CREATE ROLE migrator LOGIN PASSWORD 'migrator-pw'",
  "CREATE ROLE writer LOGIN PASSWORD 'writer-pw'",
  'CREATE DATABASE ingest OWNER migrator',
]);
after(cleanupDirs);

async function asRole<T>(user: string, password: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ ...tls.server.adminConfig('ingest'), user, password });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

test('a worker writes with an INSERT-only role while its migrations run as the migration role', async () => {
  const p = makePipeline({
    tag: 'migrole',
    dlq: false,
    spec: {
      sink: {
        schema: 'iot',
        postgres: {
          ...tlsPostgresSpec(tls.server, { sslMode: 'verify-full', database: 'ingest', credentials: 'writer' }),
          migrationCredentialsSecretRef: { name: 'migrator' },
        },
      },
    },
  });
  writeSecrets(p.secretsDir, {
    writer: { username: 'writer', password: 'writer-pw' },
    migrator: { username: 'migrator', password: 'migrator-pw' },
    'pg-ca': { 'ca.crt': tls.certs.ca },
  });

  const w = WorkerProcess.start(p);
  try {
    await w.waitReady();
    const sent = await publish(p.path, 'mr', { count: 200 });
    assert.equal(sent.acked, 200);
    await eventually(
      () =>
        asRole('migrator', 'migrator-pw', async (c) => {
          const n = Number((await c.query(`SELECT count(*) AS n FROM iot.${p.table}`)).rows[0].n);
          if (n < 200) throw new Error(`${n} of 200 rows`);
          assert.equal(n, 200);
        }),
      { timeoutMs: 30_000, what: '200 rows in the table' },
    );
  } finally {
    w.kill('SIGTERM');
    await w.exited;
  }

  await asRole('migrator', 'migrator-pw', async (c) => {
    const owners = await c.query(
      `SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'iot' ORDER BY tablename`,
    );
    assert.ok(owners.rows.length >= 2);
    for (const r of owners.rows) assert.equal(r.tableowner, 'migrator', `${r.tablename} made by the migration role`);
  });
  await asRole('writer', 'writer-pw', async (c) => {
    await assert.rejects(c.query('CREATE TABLE iot.intruder (a int)'), /permission denied for schema iot/);
    await assert.rejects(c.query(`DROP TABLE iot.${p.table}`), /must be owner of table/);
    await assert.rejects(c.query(`ALTER TABLE iot.${p.table} ADD COLUMN x int`), /must be owner of table/);
    await assert.rejects(c.query(`SELECT count(*) FROM iot.${p.table}`), /permission denied for table/);
    await assert.rejects(
      c.query(`INSERT INTO iot.mqtt2pg_migrations (table_name, version, description) VALUES ('x', 99, 'fake')`),
      /permission denied for table mqtt2pg_migrations/,
      'the writer cannot fake a migration',
    );
  });

  // `mqtt2pg migrate` runs as the migration role too: nothing left to apply, and the grants hold.
  const again = await pipelineCommand(p, 'migrate');
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /already at version/);
});
