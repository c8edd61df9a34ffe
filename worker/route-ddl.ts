// The tables of spec.routes: created from the route's columns, and evolved at start as the route changes.
// A column added to the route is added to the table (nullable, no default: no table rewrite, a short
// ACCESS EXCLUSIVE lock only); a column removed from the route stays in the table (its old rows keep their
// values, new rows get NULL); a column whose type differs from the table's stops the worker with the
// migration to do by hand, since the worker would write values the table refuses. Runs inside migrate.ts's
// transaction, under its advisory lock, so many workers starting at once apply each change once.

import type pg from 'pg';
import type { ResolvedColumn, ResolvedRoute } from '../api/routes.ts';
import { ensureDedupIndex } from './dedup-copy.ts';
import { ensurePartitionedTable } from './partition-ddl.ts';
import { indexName, qualified, quoteIdent } from './sql.ts';

/** The route's table cannot take its columns as declared; the message says how to migrate. */
export class RouteTableError extends Error {
  override name = 'RouteTableError';
}

export const routeCopySql = (schema: string, r: ResolvedRoute): string =>
  `COPY ${qualified(schema, r.table)} (${r.columns.map((c) => quoteIdent(c.name)).join(', ')}) FROM STDIN`;

const columnDef = (c: ResolvedColumn) => `${quoteIdent(c.name)} ${c.type}`;

/**
 * A plain route table: an identity key (rows stay addressable whatever the route's columns), the route's
 * columns, all nullable (the worker enforces `required`, so making a column required later needs no
 * migration), and ingested_at as the device table has. A dedup key gets its unique index, which
 * INSERT ... ON CONFLICT DO NOTHING relies on.
 */
export function createRouteTableSql(schema: string, r: ResolvedRoute): string {
  const table = qualified(schema, r.table);
  const columns = r.columns.map((c) => `  ${columnDef(c)},`).join('\n');
  const statements = [
    `CREATE TABLE IF NOT EXISTS ${table} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
${columns}
  ingested_at timestamptz NOT NULL DEFAULT now()
)`,
  ];
  if (r.dedup) {
    statements.push(
      `CREATE UNIQUE INDEX IF NOT EXISTS ${indexName(r.table, 'dedup_key')} ON ${table} (${r.dedup.key.map(quoteIdent).join(', ')})`,
    );
  }
  statements.push(
    `COMMENT ON TABLE ${table} IS 'mqtt2pg route ${r.name} (topic ${r.topicPattern.replaceAll("'", "''")})'`,
  );
  return statements.join(';\n');
}

/** PostgreSQL's spelling of a column type (format_type) → the API's, for the types routes declare. */
const CANONICAL: Record<string, string> = {
  'timestamp with time zone': 'timestamptz',
  'character varying': 'text',
};

const canonical = (formatted: string) => {
  const base = formatted.replace(/\(.*\)$/, '');
  return CANONICAL[base] ?? base;
};

export interface TableColumn {
  name: string;
  /** As format_type() spells it, e.g. "double precision", "numeric(10,2)". */
  type: string;
}

export interface RouteTablePlan {
  add: ResolvedColumn[];
  /** Columns of the table the route no longer declares: left as they are. */
  left: string[];
  conflicts: string[];
}

/** What the table needs to take the route's rows, or why it cannot (pure). */
export function planRouteTable(schema: string, r: ResolvedRoute, existing: TableColumn[]): RouteTablePlan {
  const byName = new Map(existing.map((c) => [c.name, c.type]));
  const add: ResolvedColumn[] = [];
  const conflicts: string[] = [];
  for (const c of r.columns) {
    const have = byName.get(c.name);
    if (have === undefined) add.push(c);
    else if (canonical(have) !== c.type) {
      const col = quoteIdent(c.name);
      conflicts.push(
        `table ${schema}.${r.table} column ${c.name} is ${have}, route ${r.name} declares ${c.type}: migrate it by hand (ALTER TABLE ${qualified(schema, r.table)} ALTER COLUMN ${col} TYPE ${c.type} USING ${col}::${c.type}), or declare the column ${canonical(have)} again, or give the new type a new column name`,
      );
    }
  }
  const declared = new Set([...r.columns.map((c) => c.name), 'id', 'ingested_at']);
  return { add, left: existing.map((c) => c.name).filter((n) => !declared.has(n)), conflicts };
}

export const addColumnsSql = (schema: string, r: ResolvedRoute, add: ResolvedColumn[]): string =>
  `ALTER TABLE ${qualified(schema, r.table)} ${add.map((c) => `ADD COLUMN IF NOT EXISTS ${columnDef(c)}`).join(', ')}`;

/**
 * Creates or evolves each route's table. Call inside a transaction holding the schema's advisory lock
 * (migrate.ts). Returns the columns added, as "table.column".
 */
export async function ensureRouteTables(client: pg.ClientBase, schema: string, routes: ResolvedRoute[]) {
  const added: string[] = [];
  for (const r of routes) {
    if (r.partitioning) {
      // A partitioned route's table and its first partitions (partition-ddl.ts); its columns evolve below.
      const refused = await ensurePartitionedTable(client, schema, r);
      if (refused) throw new RouteTableError(`route ${r.name}: ${refused}`);
    }
    const { rows } = await client.query<TableColumn>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
         FROM pg_attribute a
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
      [qualified(schema, r.table)],
    );
    if (rows.length === 0) {
      await client.query(createRouteTableSql(schema, r));
      continue;
    }
    const plan = planRouteTable(schema, r, rows);
    if (plan.conflicts.length > 0) throw new RouteTableError(plan.conflicts.join('; '));
    if (plan.add.length > 0) {
      await client.query(addColumnsSql(schema, r, plan.add));
      added.push(...plan.add.map((c) => `${r.table}.${c.name}`));
    }
    // A table made before the route had its key (or by hand): ON CONFLICT needs the unique index.
    const duplicated = r.dedup && (await ensureDedupIndex(client, schema, r.table, r.dedup.key));
    if (duplicated) throw new RouteTableError(`route ${r.name}: ${duplicated}`);
  }
  return added;
}
