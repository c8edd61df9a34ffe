// TLS of the autoscaler's monitoring connections: PostgreSQL is verified as the sink's sslMode says, with the
// CA of spec.sink.postgres.caSecretRef (read from the API, as the operator reads every Secret); a PgBouncer
// that serves TLS (clientTlsSecretRef) as the workers verify it, against its Service name although the
// operator dials pod IPs. A wrong certificate fails the read with the TLS error, which lands in
// signals.missing and holds the size.

import type { ResolvedPipeline, ResolvedSecretKeyRef } from '../../api/defaults.ts';
import { PGBOUNCER_TLS_FIELD } from '../../api/secret-refs.ts';
import type { PgTls } from '../../common/pg-tls.ts';
import { pgbouncerServiceName } from '../render/pgbouncer-tls.ts';
import { secretText } from '../secrets.ts';

export type ReadSecret = (namespace: string, name: string) => Promise<Record<string, string> | undefined>;

/** One key of a Secret as text, or an error naming the spec field that refers to it. */
export async function secretKeyText(
  readSecret: ReadSecret,
  namespace: string,
  ref: ResolvedSecretKeyRef,
  field: string,
): Promise<string> {
  const data = await readSecret(namespace, ref.name);
  if (!data) throw new Error(`${field}: Secret "${ref.name}" not found in namespace ${namespace}`);
  if (data[ref.key] === undefined) throw new Error(`${field}: Secret "${ref.name}" lacks key "${ref.key}"`);
  return secretText(data[ref.key]);
}

/** The monitoring connection's TLS to the pipeline's PostgreSQL: the sink's mode and CA. */
export async function postgresMonitoringTls(r: ResolvedPipeline, readSecret: ReadSecret): Promise<false | PgTls> {
  const pg = r.sink.postgres;
  if (pg.sslMode === 'disable') return false;
  const ca = pg.ca ? await secretKeyText(readSecret, r.namespace, pg.ca, 'spec.sink.postgres.caSecretRef') : undefined;
  return { mode: pg.sslMode, ...(ca ? { ca } : {}) };
}

/** The admin console connections' TLS: none unless PgBouncer serves TLS; then as the workers connect. */
export async function pgbouncerAdminTls(r: ResolvedPipeline, readSecret: ReadSecret): Promise<false | PgTls> {
  const t = r.sink.pgbouncer.clientTls;
  const mode = r.sink.postgres.sslMode;
  if (!t || mode === 'disable') return false;
  const ca = await secretKeyText(readSecret, r.namespace, { name: t.name, key: t.caKey }, PGBOUNCER_TLS_FIELD);
  return { mode, ca, servername: pgbouncerServiceName(r) };
}
