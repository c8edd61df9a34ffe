// Migrations under a role of their own (spec.sink.postgres.migrationCredentialsSecretRef): the DDL runs as
// that role over its own connection (pgClientConfig's 'migrate' connection), which then grants the worker's
// role what writing needs and nothing more: USAGE on the schema, INSERT on the tables (COPY FROM needs only
// INSERT). Without a migration role the worker's role migrates over the startup connection, as before.

import pg from 'pg';
import type { ResolvedPipeline } from '../api/defaults.ts';
import { pgClientConfig, type SecretReader } from '../common/client-options.ts';
import { type MigrateResult, migrate } from './migrate.ts';
import { qualified, quoteIdent } from './sql.ts';

/** The worker's own PostgreSQL user (the one the flushers log in as). */
export function writerUser(p: ResolvedPipeline, secrets: SecretReader): string {
  const c = p.sink.postgres.credentials;
  return secrets.read({ field: 'spec.sink.postgres.credentialsSecretRef', secret: c.name, key: c.usernameKey });
}

/**
 * The tables the worker's role writes, and so the only ones it gets INSERT on: a table the migrations add for
 * the worker to write belongs here. Never the migrations' tracking table (a writer could fake a version).
 */
export const writerTables = (p: ResolvedPipeline): string[] => [
  p.sink.table,
  p.sink.unparseableTable,
  ...declaredRoutes(p).map((r) => r.table),
];

/** The routes of spec.routes, whose tables the migrations create and evolve (the built-in one has migrations). */
const declaredRoutes = (p: ResolvedPipeline) => p.routes.filter((r) => !r.builtIn);

/** USAGE on the schema and INSERT on `tables` for `writer`; run by the role that owns them. Idempotent. */
export async function grantWriter(client: pg.ClientBase, schema: string, tables: string[], writer: string) {
  const list = tables.map((t) => qualified(schema, t)).join(', ');
  await client.query(
    `GRANT USAGE ON SCHEMA ${quoteIdent(schema)} TO ${quoteIdent(writer)}; GRANT INSERT ON ${list} TO ${quoteIdent(writer)}`,
  );
}

/** Migrates on `client` (a 'migrate' connection); with a separate migration role, grants the writer after. */
export async function migrateAndGrant(
  client: pg.ClientBase,
  p: ResolvedPipeline,
  secrets: SecretReader,
): Promise<MigrateResult> {
  const r = await migrate(client, p.sink, declaredRoutes(p));
  if (p.sink.postgres.migrationCredentials) {
    await grantWriter(client, p.sink.schema, writerTables(p), writerUser(p, secrets));
  }
  return r;
}

/**
 * The worker's start-up migrations: over `startup` (the worker's own connection) without a migration role,
 * else over a connection of the migration role opened for them and closed after.
 */
export async function startupMigrations(
  startup: pg.ClientBase,
  p: ResolvedPipeline,
  secrets: SecretReader,
): Promise<MigrateResult> {
  if (!p.sink.postgres.migrationCredentials) return migrate(startup, p.sink, declaredRoutes(p));
  const client = new pg.Client(pgClientConfig(p, secrets, 'migrate'));
  client.on('error', () => {}); // a connection lost mid-migration rejects the query in flight
  try {
    await client.connect();
    return await migrateAndGrant(client, p, secrets);
  } finally {
    await client.end().catch(() => {});
  }
}
