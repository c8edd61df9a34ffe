// `mqtt2pg replay`: re-feeds dead letters (S3 objects) or unparseable rows through the route logic after the
// cause is fixed. What is stored is committed before its source goes: an object is deleted only after the
// transactions holding its rows committed (and its still-rejected letters were stored in a new object); an
// unparseable row is deleted in the very transaction that writes its row. Run twice (a crash between commit
// and delete), a route with a dedup key stores each message once. A dry run writes in transactions it rolls
// back: PostgreSQL's own checks run, nothing is kept, nothing deleted.

import type pg from 'pg';
import type { InboundMessage } from './message.ts';
import { classifyFailure, sqlstateOf } from './pg-errors.ts';
import type { Row } from './rows.ts';
import type { DeadLetter, DeadLetterStore } from './stages.ts';

/** The rows one transaction writes, and what else it does before COMMIT (delete their sources). */
export interface ReplaySink {
  write(rows: Row[], before?: (client: pg.ClientBase) => Promise<void>): Promise<void>;
}

export interface ReplaySummary {
  dryRun: boolean;
  /** Objects (or pages of unparseable rows) read. */
  batches: number;
  messages: number;
  /** Rows the routes' tables took (with dedup: rows written, duplicates included). */
  stored: number;
  /** Messages the route logic sends to the unparseable table (from dead letters: written there). */
  unparseable: number;
  /** Rows PostgreSQL still rejects: new dead letters, or left in the unparseable table. */
  stillRejected: number;
  /** Dead-letter objects deleted (every row committed) / unparseable rows deleted. */
  deleted: number;
  /** Lines of dead-letter objects that are not dead letters (their objects are kept). */
  badLines: number;
  seconds: number;
}

export const emptySummary = (dryRun: boolean): ReplaySummary => ({
  dryRun,
  batches: 0,
  messages: 0,
  stored: 0,
  unparseable: 0,
  stillRejected: 0,
  deleted: 0,
  badLines: 0,
  seconds: 0,
});

class DryRunRollback extends Error {
  override name = 'DryRunRollback';
}

export interface Rejection {
  row: Row;
  err: unknown;
}

/**
 * Writes `rows` in as few transactions as it can: a row-level rejection splits the batch until the row is
 * alone (as the flusher does) and goes to `rejected`. Anything else (the table, the server) is thrown: the
 * replay stops there, with nothing of the failed transaction committed and its sources intact.
 */
export async function writeIsolating(
  sink: ReplaySink,
  rows: Row[],
  before: (client: pg.ClientBase, rows: Row[]) => Promise<void>,
  dryRun: boolean,
  rejected: Rejection[],
): Promise<void> {
  if (rows.length === 0) return;
  try {
    await sink.write(rows, async (client) => {
      await before(client, rows);
      if (dryRun) throw new DryRunRollback('dry run: rolled back');
    });
  } catch (err) {
    if (err instanceof DryRunRollback) return;
    if (classifyFailure(err) === 'retry') throw err;
    if (rows.length === 1) {
      rejected.push({ row: rows[0] as Row, err });
      return;
    }
    const mid = rows.length >> 1;
    await writeIsolating(sink, rows.slice(0, mid), before, dryRun, rejected);
    await writeIsolating(sink, rows.slice(mid), before, dryRun, rejected);
  }
}

const toLetter = (r: Rejection, attempts: number): DeadLetter => {
  const sqlstate = sqlstateOf(r.err);
  return { message: r.row.message, ...(sqlstate ? { sqlstate } : {}), error: (r.err as Error).message, attempts };
};

export interface DeadLetterBatch {
  key: string;
  messages: InboundMessage[];
  attempts: number[];
  badLines: number;
}

/**
 * One dead-letter object: its rows written (route logic first: what it refuses goes to the unparseable
 * table, as in the worker), the letters PostgreSQL still rejects stored in a new object, and only then the
 * object deleted. An object with lines that are not dead letters is kept (after its rows are stored).
 */
export async function replayDeadLetters(
  batch: DeadLetterBatch,
  deps: {
    toRows: (messages: InboundMessage[]) => Row[];
    sink: ReplaySink;
    store: DeadLetterStore;
    deleteObject: (key: string) => Promise<void>;
    dryRun: boolean;
  },
  s: ReplaySummary,
): Promise<void> {
  const rows = deps.toRows(batch.messages);
  const rejected: Rejection[] = [];
  await writeIsolating(deps.sink, rows, async () => {}, deps.dryRun, rejected);
  const refused = new Set(rejected.map((r) => r.row));
  const attemptsOf = new Map(batch.messages.map((m, i) => [m, batch.attempts[i] ?? 0]));
  s.batches++;
  s.messages += batch.messages.length;
  s.badLines += batch.badLines;
  s.stillRejected += rejected.length;
  for (const r of rows) if (!refused.has(r)) r.kind === 'unparseable' ? s.unparseable++ : s.stored++;
  if (deps.dryRun) return;
  if (rejected.length > 0)
    await deps.store.put(rejected.map((r) => toLetter(r, (attemptsOf.get(r.row.message) ?? 0) + 1)));
  if (batch.badLines > 0) return;
  await deps.deleteObject(batch.key);
  s.deleted++;
}

export interface UnparseablePage {
  /** The rows' ids in the unparseable table, by message. */
  ids: Map<InboundMessage, string>;
  messages: InboundMessage[];
}

/**
 * One page of unparseable rows: those the routes now take are written and deleted from the unparseable table
 * in the same transaction; those the route logic still refuses, or PostgreSQL still rejects, stay where they
 * are (counted as still rejected).
 */
export async function replayUnparseable(
  page: UnparseablePage,
  deps: {
    toRows: (messages: InboundMessage[]) => Row[];
    sink: ReplaySink;
    deleteRows: (client: pg.ClientBase, ids: string[]) => Promise<void>;
    dryRun: boolean;
  },
  s: ReplaySummary,
): Promise<void> {
  const rows = deps.toRows(page.messages);
  const take = rows.filter((r) => r.kind !== 'unparseable');
  const rejected: Rejection[] = [];
  const idsOf = (rs: Row[]) => rs.map((r) => page.ids.get(r.message) as string);
  await writeIsolating(deps.sink, take, (client, rs) => deps.deleteRows(client, idsOf(rs)), deps.dryRun, rejected);
  s.batches++;
  s.messages += page.messages.length;
  s.stillRejected += rows.length - take.length + rejected.length;
  s.stored += take.length - rejected.length;
  if (!deps.dryRun) s.deleted += take.length - rejected.length;
}
