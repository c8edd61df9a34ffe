// The write path of a route with a dedup key, inside the flusher's one transaction: COPY into a staging table
// that lives only as long as the transaction (ON COMMIT DROP; a rollback drops it too), then
// INSERT … SELECT … ON CONFLICT (key) DO NOTHING into the table. Redeliveries after a crash, a message
// published twice and replays of dead letters store each key once. Nothing outlives the transaction, so it
// works through PgBouncer in transaction pooling mode (a session temp table would land on another client's
// server connection).

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { ResolvedRoute } from '../api/routes.ts';
import { indexName, qualified, quoteIdent } from './sql.ts';

export interface DedupTarget {
  schema: string;
  table: string;
  /** The columns COPY writes, in the order of the COPY lines. */
  columns: readonly string[];
  /** The dedup key: columns of a unique index (dedupIndexSql). */
  key: readonly string[];
}

export interface DedupResult {
  /** Rows COPY put into the staging table. */
  copied: number;
  /** Of those, rows the table did not hold yet. */
  inserted: number;
}

/** The dedup targets of the routes that have a dedup key, by route name. */
export function dedupTargets(schema: string, routes: readonly ResolvedRoute[]): Map<string, DedupTarget> {
  const out = new Map<string, DedupTarget>();
  for (const r of routes)
    if (r.dedup) out.set(r.name, { schema, table: r.table, columns: r.columns.map((c) => c.name), key: r.dedup.key });
  return out;
}

/** The unique index ON CONFLICT needs (on a partitioned table it must hold the partition column). */
export function dedupIndexSql(schema: string, table: string, key: readonly string[]): string {
  return `CREATE UNIQUE INDEX IF NOT EXISTS ${indexName(table, 'dedup_key')} ON ${qualified(schema, table)} (${key.map(quoteIdent).join(', ')})`;
}

/**
 * The dedup key's unique index on an existing table (IF NOT EXISTS: a no-op once made); or, when the table
 * holds duplicate keys and cannot get one, what to do about it. A refusal leaves the transaction failed.
 */
export async function ensureDedupIndex(
  client: pg.ClientBase,
  schema: string,
  table: string,
  key: readonly string[],
): Promise<string | undefined> {
  try {
    await client.query(dedupIndexSql(schema, table, key));
    return undefined;
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err;
    const t = qualified(schema, table);
    const same = key.map((k) => `a.${quoteIdent(k)} = b.${quoteIdent(k)}`).join(' AND ');
    return `table ${schema}.${table} already holds rows with the same dedup key (${key.join(', ')}), so its unique index cannot be made: delete the extra rows (DELETE FROM ${t} a USING ${t} b WHERE a.id > b.id AND ${same}) and start again`;
  }
}

/** The statements of one dedup write; `stage` is a name unique within the transaction. */
export function dedupStatements(t: DedupTarget, stage: string) {
  const cols = t.columns.map(quoteIdent).join(', ');
  const s = quoteIdent(stage);
  return {
    // CREATE … AS … WITH NO DATA copies the columns' types only: no identity, NOT NULL or default to trip on.
    create: `CREATE TEMP TABLE ${s} ON COMMIT DROP AS SELECT ${cols} FROM ${qualified(t.schema, t.table)} WITH NO DATA`,
    copy: `COPY ${s} (${cols}) FROM STDIN`,
    insert: `INSERT INTO ${qualified(t.schema, t.table)} (${cols}) SELECT ${cols} FROM ${s} ON CONFLICT (${t.key.map(quoteIdent).join(', ')}) DO NOTHING`,
  };
}

/**
 * Writes the COPY text `chunks` (lines in `t.columns` order) through a staging table, in the caller's open
 * transaction. Row errors surface as COPY's or INSERT's SQLSTATE, like a plain COPY's, so the flusher's split
 * finds the row the same way.
 */
export async function dedupCopy(
  client: pg.ClientBase,
  t: DedupTarget,
  chunks: Iterable<string>,
  stage = 'mqtt2pg_stage',
): Promise<DedupResult> {
  const sql = dedupStatements(t, stage);
  await client.query(sql.create);
  const copied = await copyInto(client, sql.copy, chunks);
  const inserted = (await client.query(sql.insert)).rowCount ?? 0;
  return { copied, inserted };
}

/** Streams the chunks into `COPY … FROM STDIN` with backpressure; the rows COPY took. */
export async function copyInto(client: pg.ClientBase, sql: string, chunks: Iterable<string>): Promise<number> {
  const copyStream = client.query(copyStreams.from(sql));
  await pipeline(Readable.from(chunks, { highWaterMark: 1 }), copyStream);
  return Number(copyStream.rowCount ?? 0);
}
