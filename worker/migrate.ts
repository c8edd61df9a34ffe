// Applies the versioned migrations of one pipeline's tables. Safe when many workers start at once, also
// behind PgBouncer in transaction mode: everything runs in one transaction under a per-schema transaction-level
// advisory lock (session locks would not survive transaction pooling).

import type pg from 'pg';
import type { ResolvedRoute } from '../api/routes.ts';
import { MIGRATIONS, migrationsTable, type TableNames } from './migrations.ts';
import { ensureRouteTables } from './route-ddl.ts';
import { quoteIdent } from './sql.ts';

export interface MigrateResult {
  applied: number[];
  current: number;
  /** Route tables' columns added, as "table.column" (route-ddl.ts). */
  addedColumns: string[];
}

/** `routes`: the declared routes (spec.routes), whose tables are created or evolved in the same transaction. */
export async function migrate(
  client: pg.ClientBase,
  t: TableNames,
  routes: ResolvedRoute[] = [],
): Promise<MigrateResult> {
  const tracking = migrationsTable(t.schema);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`mqtt2pg:${t.schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(t.schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${tracking} (
         table_name text NOT NULL,
         version integer NOT NULL,
         description text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (table_name, version))`,
    );
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${tracking} WHERE table_name = $1`, [
      t.table,
    ]);
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await client.query(m.sql(t));
      await client.query(`INSERT INTO ${tracking} (table_name, version, description) VALUES ($1, $2, $3)`, [
        t.table,
        m.version,
        m.description,
      ]);
      applied.push(m.version);
    }
    const addedColumns = await ensureRouteTables(client, t.schema, routes);
    await client.query('COMMIT');
    return { applied, current: Math.max(0, ...MIGRATIONS.map((m) => m.version)), addedColumns };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
