// TLS of the autoscaler's monitoring connections: PostgreSQL is verified as the sink's sslMode says, with the
// CA of spec.sink.postgres.caSecretRef (read from the API, as the operator reads every Secret). A wrong
// certificate fails the read with the TLS error, which lands in signals.missing and holds the size.

import type { ResolvedPipeline, ResolvedSecretKeyRef } from '../../api/defaults.ts';
import type { PgTls } from '../../common/pg-tls.ts';
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
