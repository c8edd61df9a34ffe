// PgBouncer's admin and stats user (issue 14): the autoscaler reads SHOW POOLS/STATS and sets
// default_pool_size on each PgBouncer's admin console as a user of its own, never as the pipeline's database
// user, so a worker (or whoever holds its credentials) can connect through PgBouncer but cannot SHUTDOWN,
// PAUSE or reconfigure it. The password is random, generated once by the operator (operator/pgbouncer-admin.ts)
// and kept in an operator-owned Secret that no pod mounts; PgBouncer gets it through its auth file.

import type { IngestPipeline } from '../../api/types.ts';
import { names, objectMeta } from './meta.ts';

/** The admin console user; constant, so it can stand in pgbouncer.ini (a database user of that name is refused). */
export const PGBOUNCER_ADMIN_USER = 'mqtt2pg_pgbouncer_admin';
/** Keys of the admin Secret `<pipeline>-pgbouncer-admin`. */
export const ADMIN_SECRET_KEYS = { username: 'username', password: 'password' } as const;

/** What a password may hold: what the operator generates (base64url), so it needs no quoting anywhere. */
export const ADMIN_PASSWORD_PATTERN = /^[A-Za-z0-9_-]{32,}$/;

/** The pgbouncer.ini lines naming the admin user (the admin console refuses every other user). */
export const adminIniLines = () => [`admin_users = ${PGBOUNCER_ADMIN_USER}`, `stats_users = ${PGBOUNCER_ADMIN_USER}`];

/** The admin Secret's password, if it holds a usable one (base64 data as the API serves it). */
export function adminPasswordOf(data: Record<string, string> | undefined): string | undefined {
  const b64 = data?.[ADMIN_SECRET_KEYS.password];
  if (!b64) return undefined;
  const password = Buffer.from(b64, 'base64').toString('utf8');
  return ADMIN_PASSWORD_PATTERN.test(password) ? password : undefined;
}

/** The admin console's user and password from the admin Secret's data; throws naming the Secret. */
export function adminCredentials(
  data: Record<string, string> | undefined,
  r: { name: string; namespace: string },
): { user: string; password: string } {
  const password = adminPasswordOf(data);
  if (!password) {
    throw new Error(
      `PgBouncer admin Secret ${names(r.name).pgbouncerAdmin} in namespace ${r.namespace} is missing or holds no usable password; the operator recreates it on its next reconcile`,
    );
  }
  return { user: PGBOUNCER_ADMIN_USER, password };
}

/** The operator-owned Secret the autoscaler reads the admin credentials from. */
export function renderAdminSecret(p: IngestPipeline, password: string | undefined) {
  const value = password ?? 'rendered offline: the operator generates this password';
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: objectMeta(p, names(p.metadata.name).pgbouncerAdmin, 'pgbouncer'),
    type: 'Opaque',
    data: { [ADMIN_SECRET_KEYS.username]: b64(PGBOUNCER_ADMIN_USER), [ADMIN_SECRET_KEYS.password]: b64(value) },
  };
}
