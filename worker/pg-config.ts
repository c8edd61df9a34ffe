// PostgreSQL connection settings of a pipeline, with credentials from the secrets directory.

import type { ClientConfig } from 'pg';
import type { ResolvedPipeline } from '../api/defaults.ts';
import type { SecretsDir } from '../common/secrets-dir.ts';

export function pgClientConfig(p: ResolvedPipeline, secrets: SecretsDir, role = 'flusher'): ClientConfig {
  const pg = p.sink.postgres;
  const field = 'spec.sink.postgres.credentialsSecretRef';
  const user = secrets.read({ field, secret: pg.credentials.name, key: pg.credentials.usernameKey });
  const password = secrets.read({ field, secret: pg.credentials.name, key: pg.credentials.passwordKey });
  const ca = pg.ca
    ? secrets.read({ field: 'spec.sink.postgres.caSecretRef', secret: pg.ca.name, key: pg.ca.key })
    : undefined;
  let ssl: ClientConfig['ssl'];
  switch (pg.sslMode) {
    case 'disable':
      ssl = false;
      break;
    case 'require':
      ssl = { rejectUnauthorized: false };
      break;
    case 'verify-ca':
      // Chain checked, host name not: what libpq's verify-ca means.
      ssl = { ca, checkServerIdentity: () => undefined };
      break;
    case 'verify-full':
      ssl = { ca };
      break;
  }
  return {
    host: pg.host,
    port: pg.port,
    database: pg.database,
    user,
    password,
    ssl,
    application_name: `${pg.applicationName}:${p.name}:${role}`.slice(0, 63),
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  };
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
