// The table of a partitioned route: declaratively partitioned by RANGE on the route's timestamptz column, every
// unique key holding that column (PostgreSQL requires it of a partitioned table's unique indexes, and so does
// TimescaleDB of a hypertable's): the primary key is (id, column), the dedup key must name it (validate refuses
// a key without it). Plain PostgreSQL DDL, so it runs unchanged on TimescaleDB too; docs/partitioning.md shows
// create_hypertable as the alternative. Partitions themselves come from partition-maintainer.ts.

import type pg from 'pg';
import type { ResolvedRoute } from '../api/routes.ts';
import { dedupIndexSql } from './dedup-copy.ts';
import { createPlannedPartitions } from './partition-maintainer.ts';
import { qualified, quoteIdent } from './sql.ts';

export interface PartitionedTable {
  schema: string;
  table: string;
  /** "name type" of each of the route's columns, in order (all nullable, as a plain route table's). */
  columnDefs: string[];
  column: string;
}

export function createPartitionedTableSql(t: PartitionedTable): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified(t.schema, t.table)} (
  id bigint GENERATED ALWAYS AS IDENTITY,
${t.columnDefs.map((d) => `  ${d},`).join('\n')}
  ingested_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, ${quoteIdent(t.column)})
) PARTITION BY RANGE (${quoteIdent(t.column)})`;
}

/**
 * Why an existing table cannot serve a partitioned route, if it cannot: a plain table is never converted in
 * place (that rewrites every row under an exclusive lock); the message says how to migrate by hand.
 */
export async function checkPartitionedTable(
  client: pg.ClientBase,
  schema: string,
  table: string,
  column: string,
): Promise<string | undefined> {
  const { rows } = await client.query<{ kind: string; key: string | null }>(
    `SELECT c.relkind AS kind, pg_get_partkeydef(c.oid) AS key FROM pg_class c WHERE c.oid = to_regclass($1)`,
    [qualified(schema, table)],
  );
  const r = rows[0];
  if (!r) return undefined;
  const name = `${schema}.${table}`;
  if (r.kind !== 'p') {
    // A TimescaleDB hypertable is a plain table to the catalog; its partitioning is TimescaleDB's, not ours.
    return `table ${name} exists and is not partitioned: rename it (ALTER TABLE ${qualified(schema, table)} RENAME TO ${quoteIdent(`${table}_old`.slice(0, 63))}), let the worker create the partitioned table, then copy the rows over (INSERT INTO … SELECT …); or, for a TimescaleDB hypertable you made yourself, remove partitioning from the route (docs/partitioning.md)`;
  }
  if (r.key !== `RANGE (${column})`)
    return `table ${name} is partitioned by ${r.key}, the route by RANGE (${column}): partition it as the route says, or change the route's partitioning.column to match the table`;
  return undefined;
}

/**
 * A partitioned route's table, created with its dedup index and its first partitions when missing, inside
 * migrate.ts's transaction (so `mqtt2pg migrate` leaves a table ready for rows); or why the existing table
 * cannot serve the route.
 */
export async function ensurePartitionedTable(
  client: pg.ClientBase,
  schema: string,
  r: ResolvedRoute,
  nowMs = Date.now(),
): Promise<string | undefined> {
  const part = r.partitioning;
  if (!part) return undefined;
  const refused = await checkPartitionedTable(client, schema, r.table, part.column);
  if (refused) return refused;
  await client.query(
    createPartitionedTableSql({
      schema,
      table: r.table,
      columnDefs: r.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`),
      column: part.column,
    }),
  );
  if (r.dedup) await client.query(dedupIndexSql(schema, r.table, r.dedup.key));
  const settings = { intervalMs: part.intervalMs, retentionMs: part.retentionMs, premake: part.premake };
  await createPlannedPartitions(client, { schema, table: r.table, settings }, nowMs);
  return undefined;
}
