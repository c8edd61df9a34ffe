// Migrations against real PostgreSQL through PgBouncer in transaction mode: many workers starting at once
// apply each version exactly once, and a second run changes nothing.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { migrate } from '../../../worker/migrate.ts';
import { MIGRATIONS } from '../../../worker/migrations.ts';
import { requireEnv } from '../../lib/env.ts';

test('eight concurrent migrations through PgBouncer apply each version once', async () => {
  const schema = `mig_${randomBytes(3).toString('hex')}`;
  const tables = {
    schema,
    table: 'telemetry',
    unparseableTable: 'telemetry_unparseable',
    payloadFormat: 'json' as const,
  };
  const clients = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const c = new pg.Client({ connectionString: requireEnv('PGBOUNCER_URL') });
      await c.connect();
      return c;
    }),
  );
  try {
    const results = await Promise.all(clients.map((c) => migrate(c, tables)));
    const applied = results.flatMap((r) => r.applied);
    assert.deepEqual(
      applied,
      MIGRATIONS.map((m) => m.version),
      'each version applied by exactly one worker',
    );
    const again = await migrate(clients[0] as pg.Client, tables);
    assert.deepEqual(again.applied, []);
    const { rows } = await (clients[0] as pg.Client).query(
      `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
      [schema],
    );
    const cols = (t: string) => rows.filter((r) => r.table_name === t).map((r) => `${r.column_name}:${r.data_type}`);
    assert.deepEqual(cols('telemetry'), [
      'id:bigint',
      'tenant:text',
      'device_id:uuid',
      'path:text',
      'payload:jsonb',
      'received_at:timestamp with time zone',
      'ingested_at:timestamp with time zone',
    ]);
    assert.deepEqual(cols('telemetry_unparseable'), [
      'id:bigint',
      'topic:text',
      'payload:bytea',
      'reason:text',
      'detail:text',
      'received_at:timestamp with time zone',
      'ingested_at:timestamp with time zone',
    ]);
    const idx = await (clients[0] as pg.Client).query(
      `SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY 1`,
      [schema],
    );
    assert.deepEqual(
      idx.rows.map((r) => r.indexname),
      [
        'mqtt2pg_migrations_pkey',
        'telemetry_device_received_at_idx',
        'telemetry_pkey',
        'telemetry_tenant_received_at_idx',
        'telemetry_unparseable_pkey',
        'telemetry_unparseable_received_at_idx',
      ],
    );
    await (clients[0] as pg.Client).query(`DROP SCHEMA "${schema}" CASCADE`);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
});

test('binary pipelines store payloads as bytea', async () => {
  const schema = `mig_${randomBytes(3).toString('hex')}`;
  const c = new pg.Client({ connectionString: requireEnv('PGBOUNCER_URL') });
  await c.connect();
  try {
    await migrate(c, { schema, table: 'raw', unparseableTable: 'raw_bad', payloadFormat: 'binary' });
    const { rows } = await c.query(
      `SELECT data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'raw' AND column_name = 'payload'`,
      [schema],
    );
    assert.equal(rows[0].data_type, 'bytea');
    await c.query(`DROP SCHEMA "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
});
