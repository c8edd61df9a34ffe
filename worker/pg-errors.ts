// Which PostgreSQL failures are the row's fault (isolate it, dead-letter it), which are the table's or the
// server's or the network's (retry with backoff, never dead-letter, report with what to fix), and which can be
// either (decided by whether the table takes other rows); and what a failed connection means for the user.
// docs/reliability.md has the same table for users.

import type { ResolvedPipeline } from '../api/defaults.ts';
import { certificateProblem } from '../common/tls-errors.ts';

/**
 * row: the row's values; isolate and dead-letter it. retry: the table, the server or the network; retry the
 * same rows with backoff. doubt: a single row can cause it, and so can the table (a NOT NULL column added
 * without a default, a low max_stack_depth); rows failing alone are the rows' fault only if the table takes
 * other rows meanwhile (see doubtfulAreRows).
 */
export type FailureKind = 'row' | 'retry' | 'doubt';

// Data exceptions (22: bad JSON, out of range, NUL in text) and integrity violations (23: unique, foreign
// key, exclusion, a CHECK constraint), and limits one oversized value hits (54000 e.g. an index row too big).
const ROW_CLASSES = new Set(['22', '23']);
const ROW_CODES = new Set(['54000']);
const DOUBT_CODES = new Set(['23502', '54001']);

export function sqlstateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function classifyFailure(err: unknown): FailureKind {
  const code = sqlstateOf(err);
  if (!code) return 'retry';
  if (DOUBT_CODES.has(code)) return 'doubt';
  // 23514 is a CHECK constraint a row violates (the error names the constraint), and also "no partition of
  // relation found for row" or a partition's own bound (no constraint named): the table lacks a partition.
  if (code === '23514') return (err as { constraint?: unknown }).constraint ? 'row' : 'retry';
  return ROW_CLASSES.has(code.slice(0, 2)) || ROW_CODES.has(code) ? 'row' : 'retry';
}

/**
 * Rows that failed alone with a 'doubt' SQLSTATE are the rows' fault when the table took other rows since
 * their batch was first written (their neighbours, or another flusher's batch); otherwise the table is at
 * fault and they are retried, never dead-lettered.
 */
export function doubtfulAreRows(telemetryCommitsAtStart: number, telemetryCommitsNow: number): boolean {
  return telemetryCommitsNow > telemetryCommitsAtStart;
}

/** A write failure that is not a row's, as /readyz, the log and the sink_blocked metric show it. */
export interface SinkBlock {
  /** The SQLSTATE, else the socket error (ECONNREFUSED), else "unknown": the metric's label. */
  code: string;
  /** PostgreSQL's message (or the socket error's). */
  message: string;
  /** One sentence: what is wrong and what to fix. */
  fix: string;
}

const FIXES: Record<string, string> = {
  '42P10':
    "the route's dedup key has no unique index on its table (a table made by hand): create it, CREATE UNIQUE INDEX ON <table> (<key columns>) (docs/partitioning.md)",
  '23514':
    'no partition of the table takes these rows: create the partition for their range (or a DEFAULT partition); the rows are retried until one exists',
  '23502':
    'a NOT NULL column the worker does not write has no default: give it a DEFAULT or drop NOT NULL (see docs/reliability.md)',
  '42P01':
    "the table does not exist: run 'mqtt2pg migrate -f <pipeline>' (or start the worker with migrations on), or fix spec.sink.schema/table",
  '42703': "a column the worker writes is missing: restore it, or run 'mqtt2pg migrate -f <pipeline>'",
  '42804':
    "a column's type no longer matches what the worker writes (schema drift): change it back (docs/reliability.md)",
  '42501': 'the database user lacks a privilege on the table: GRANT INSERT (and USAGE on the schema) to it',
  '53100': "PostgreSQL's disk is full: free space or grow its volume",
  '53200': 'PostgreSQL is out of memory: check the server',
  '53300': 'PostgreSQL has no free connection: raise max_connections, or lower flushers/pool size',
  '54001':
    'stack depth limit exceeded for every row: raise max_stack_depth on the server, or check triggers on the table',
  '57014':
    'a write ran past spec.sink.postgres.statementTimeout: find the lock on the table or the overload, or raise the timeout',
  '57P01': 'PostgreSQL is shutting down (or an administrator ended the connection): wait for it to come back',
  '57P02': 'PostgreSQL is crash-restarting: wait for it to come back, then check its log',
  '57P03': 'PostgreSQL is not accepting connections yet (starting up or in recovery): wait for it',
  '25006': 'the server is a read-only standby: point spec.sink.postgres.host at the primary',
  '55P03': 'a lock on the table is not available: find the session holding it',
  '40001': 'a serialization conflict: retried, nothing to fix unless it persists',
  '40P01': 'a deadlock with another session: retried, nothing to fix unless it persists',
};

const CONNECTION_FIX =
  'the connection to PostgreSQL (or PgBouncer) failed or timed out: check that it runs and that the network reaches it';

/** What blocks writes, for users: the code, the message and one sentence on what to fix. */
export function describeBlock(err: unknown): SinkBlock {
  const e = err as { code?: unknown; message?: unknown };
  const sqlstate = sqlstateOf(err);
  const message = typeof e.message === 'string' && e.message ? e.message : String(err);
  // pg's own connect timeout carries no code, only this message.
  const socket = typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code) ? e.code : undefined;
  const code = sqlstate ?? socket ?? (/^timeout expired$|connection timeout/.test(message) ? 'ETIMEDOUT' : 'unknown');
  const fix =
    (sqlstate && FIXES[sqlstate]) ??
    (sqlstate?.startsWith('08') || !sqlstate
      ? CONNECTION_FIX
      : 'PostgreSQL refused the write for a reason of the table or the server: see the message');
  return { code, message, fix };
}

/** What a connection failure means for the user, in one sentence, by SQLSTATE or socket error. */
export function explainPgConnectError(err: unknown, p: ResolvedPipeline): string {
  const e = err as { code?: string; message?: string };
  const where = `${p.sink.postgres.host}:${p.sink.postgres.port}/${p.sink.postgres.database}`;
  // PgBouncer reports its own refusals as protocol errors (08P01) with a telling message.
  const code =
    e.code === '08P01' && /authentication failed|password/i.test(e.message ?? '')
      ? '28P01'
      : e.code === '08P01' && /no such database/i.test(e.message ?? '')
        ? '3D000'
        : e.code;
  const tls = certificateProblem(err, {
    ca: 'spec.sink.postgres.caSecretRef (verify-ca, verify-full)',
    name: 'spec.sink.postgres.host; verify-ca checks no name',
  });
  if (tls) return `PostgreSQL at ${where}: ${tls}`;
  switch (code) {
    case '28P01':
    case '28000':
      return `PostgreSQL at ${where} refused the credentials from Secret "${p.sink.postgres.credentials.name}" (${e.message}); check its ${p.sink.postgres.credentials.usernameKey}/${p.sink.postgres.credentials.passwordKey} keys`;
    case '3D000':
      return `database "${p.sink.postgres.database}" does not exist at ${where}; create it or fix spec.sink.postgres.database`;
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
      return `cannot reach PostgreSQL at ${where} (${e.code}); check spec.sink.postgres.host/port and that the server (or PgBouncer) is running`;
    default:
      return `PostgreSQL at ${where}: ${e.message ?? String(err)}${e.code ? ` (${e.code})` : ''}`;
  }
}
