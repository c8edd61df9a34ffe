// The worker's PostgreSQL self-check at start (connect, migrations, both tables usable), and what its failure
// means. A configuration mistake (credentials, database name, rights, tables missing under --no-migrate) stops
// the worker at once with the fix. PostgreSQL or PgBouncer not answering yet (an outage, a rollout during
// one) does not: the worker starts, takes messages into its WAL, and the check is retried in the background
// until it passes, so a replaced pod never crash-loops through an outage.

import pg from 'pg';
import type { ResolvedPipeline } from '../api/defaults.ts';
import { backoffDelay, sleep } from '../common/backoff.ts';
import { pgClientConfig } from '../common/client-options.ts';
import type { Logger } from '../common/logger.ts';
import type { SecretsDir } from '../common/secrets-dir.ts';
import { migrate } from './migrate.ts';
import { explainPgConnectError, sqlstateOf } from './pg-errors.ts';
import { RouteTableError } from './route-ddl.ts';
import { qualified, quoteIdent } from './sql.ts';
import { StartupError } from './wiring.ts';

/** A failed check; `transient` when waiting can fix it (nothing in the configuration is wrong). */
export class PostgresCheckError extends StartupError {
  readonly transient: boolean;
  constructor(message: string, transient: boolean) {
    super(message);
    this.transient = transient;
  }
}

// Refusals no wait can fix: credentials, database name, rights.
const CONFIG_CODES = new Set(['28P01', '28000', '3D000', '42501']);

/** Whether a failure to connect or migrate is the configuration's (stop) or the server's (wait). */
export function isConfigurationError(err: unknown): boolean {
  const code = sqlstateOf(err);
  const message = (err as { message?: string })?.message ?? '';
  // PgBouncer reports its own refusals as protocol errors (08P01) with a telling message.
  if (code === '08P01' && /authentication failed|password|no such database|no such user/i.test(message)) return true;
  return code !== undefined && CONFIG_CODES.has(code);
}

/**
 * How long one check may take. PgBouncer accepts a client while PostgreSQL is down and holds its first query
 * until a server connection succeeds (query_wait_timeout, 120 s by default): without a bound the worker
 * would hang at start instead of starting and waiting.
 */
export const CHECK_TIMEOUT_MS = 15_000;

export async function checkPostgres(
  p: ResolvedPipeline,
  secrets: SecretsDir,
  runMigrations: boolean,
  log: Logger,
  timeoutMs = CHECK_TIMEOUT_MS,
): Promise<void> {
  const client = new pg.Client(pgClientConfig(p, secrets, 'startup'));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const where = `${p.sink.postgres.host}:${p.sink.postgres.port}/${p.sink.postgres.database}`;
      reject(new PostgresCheckError(`PostgreSQL at ${where} did not answer within ${timeoutMs / 1000} s`, true));
      void client.end().catch(() => {});
    }, timeoutMs);
  });
  try {
    await Promise.race([runCheck(client, p, runMigrations, log), timedOut]);
  } finally {
    clearTimeout(timer);
    await client.end().catch(() => {});
  }
}

async function runCheck(client: pg.Client, p: ResolvedPipeline, runMigrations: boolean, log: Logger): Promise<void> {
  const failed = (err: unknown) => new PostgresCheckError(explainPgConnectError(err, p), !isConfigurationError(err));
  client.on('error', () => {}); // a connection lost mid-check rejects the query in flight
  try {
    await client.connect();
  } catch (err) {
    throw failed(err);
  }
  const routes = p.routes.filter((r) => !r.builtIn);
  if (runMigrations) {
    const r = await migrate(client, p.sink, routes).catch((err: unknown) => {
      // A route column whose type differs from the table's: no wait fixes it, the message says what does.
      throw err instanceof RouteTableError ? new PostgresCheckError(err.message, false) : failed(err);
    });
    if (r.applied.length > 0) log.info({ applied: r.applied }, 'applied schema migrations');
    if (r.addedColumns.length > 0) log.info({ columns: r.addedColumns }, 'added route columns to their tables');
  }
  const tables = [
    { t: p.sink.table, columns: '1' },
    { t: p.sink.unparseableTable, columns: '1' },
    ...routes.map((r) => ({ t: r.table, columns: r.columns.map((c) => quoteIdent(c.name)).join(', ') })),
  ];
  for (const { t, columns } of tables) {
    try {
      await client.query(`SELECT ${columns} FROM ${qualified(p.sink.schema, t)} LIMIT 0`);
    } catch (err) {
      // 42P01: no such table; 42703: a route column missing (under --no-migrate).
      if (sqlstateOf(err) !== '42P01' && sqlstateOf(err) !== '42703') throw failed(err);
      throw new PostgresCheckError(
        `table ${p.sink.schema}.${t} is not usable (${(err as Error).message}); run 'mqtt2pg migrate -f <pipeline>' or start the worker without --no-migrate`,
        false,
      );
    }
  }
}

/**
 * Retries the check with backoff until it passes (resolves), hits a configuration error (rejects with it),
 * or `signal` aborts (resolves). `onWaiting` receives the reason after each transient failure.
 */
export async function awaitPostgres(
  check: () => Promise<void>,
  o: { signal: AbortSignal; onWaiting: (reason: string) => void; initialBackoffMs: number; maxBackoffMs: number },
): Promise<void> {
  for (let attempt = 0; !o.signal.aborted; attempt++) {
    try {
      await check();
      return;
    } catch (err) {
      if (!(err instanceof PostgresCheckError) || !err.transient) throw err;
      o.onWaiting(err.message);
    }
    await sleep(backoffDelay(attempt, { initialMs: o.initialBackoffMs, maxMs: o.maxBackoffMs }), o.signal);
  }
}
