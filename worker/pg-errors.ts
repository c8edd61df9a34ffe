// Which PostgreSQL failures are the row's fault (isolate it, dead-letter it) and which are the server's or
// the network's (retry forever; never dead-letter); and what a failed connection means for the user.

import type { ResolvedPipeline } from '../api/defaults.ts';

export type FailureKind = 'row' | 'retry';

// SQLSTATE classes and codes a single row can cause: data exceptions (22: bad JSON, out of range, NUL in
// text), integrity violations (23), and limits one oversized value hits (54000 e.g. an index row too big).
const ROW_CLASSES = new Set(['22', '23']);
const ROW_CODES = new Set(['54000', '42804']);

export function sqlstateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function classifyFailure(err: unknown): FailureKind {
  const code = sqlstateOf(err);
  if (!code) return 'retry';
  return ROW_CLASSES.has(code.slice(0, 2)) || ROW_CODES.has(code) ? 'row' : 'retry';
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
