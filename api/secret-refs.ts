// Every Secret key a pipeline references, with the field that references it. The worker reads them from the
// secrets directory; the operator watches and mounts them; `validate --secrets-dir` checks they exist.

import type { ResolvedPipeline } from './defaults.ts';

export interface SecretKeyReference {
  /** The spec field holding the reference, for error messages. */
  field: string;
  secret: string;
  key: string;
}

export function secretReferences(r: ResolvedPipeline): SecretKeyReference[] {
  const refs: SecretKeyReference[] = [];
  const add = (field: string, secret: string, key: string) => refs.push({ field, secret, key });
  const { source, sink, deadLetter, autoscaling } = r;
  if (source.auth) {
    add('spec.source.auth.secretRef', source.auth.name, source.auth.usernameKey);
    add('spec.source.auth.secretRef', source.auth.name, source.auth.passwordKey);
  }
  if (source.tls?.ca) add('spec.source.tls.caSecretRef', source.tls.ca.name, source.tls.ca.key);
  if (source.tls?.clientCert) {
    const c = source.tls.clientCert;
    add('spec.source.tls.clientCertSecretRef', c.name, c.certKey);
    add('spec.source.tls.clientCertSecretRef', c.name, c.keyKey);
  }
  const pg = sink.postgres;
  add('spec.sink.postgres.credentialsSecretRef', pg.credentials.name, pg.credentials.usernameKey);
  add('spec.sink.postgres.credentialsSecretRef', pg.credentials.name, pg.credentials.passwordKey);
  if (pg.ca) add('spec.sink.postgres.caSecretRef', pg.ca.name, pg.ca.key);
  const mig = pg.migrationCredentials;
  if (mig) {
    add('spec.sink.postgres.migrationCredentialsSecretRef', mig.name, mig.usernameKey);
    add('spec.sink.postgres.migrationCredentialsSecretRef', mig.name, mig.passwordKey);
  }
  const bouncerTls = sink.pgbouncer.enabled ? sink.pgbouncer.clientTls : undefined;
  if (bouncerTls) {
    add(PGBOUNCER_TLS_FIELD, bouncerTls.name, bouncerTls.certKey);
    add(PGBOUNCER_TLS_FIELD, bouncerTls.name, bouncerTls.keyKey);
    add(PGBOUNCER_TLS_FIELD, bouncerTls.name, bouncerTls.caKey);
  }
  if (deadLetter?.credentials) {
    const c = deadLetter.credentials;
    add('spec.deadLetter.s3.credentialsSecretRef', c.name, c.accessKeyIdKey);
    add('spec.deadLetter.s3.credentialsSecretRef', c.name, c.secretAccessKeyKey);
  }
  if (deadLetter?.ca) add('spec.deadLetter.s3.caSecretRef', deadLetter.ca.name, deadLetter.ca.key);
  const mon = autoscaling.postgresMonitoring;
  if (mon) {
    add('spec.autoscaling.postgresMonitoring.credentialsSecretRef', mon.credentials.name, mon.credentials.usernameKey);
    add('spec.autoscaling.postgresMonitoring.credentialsSecretRef', mon.credentials.name, mon.credentials.passwordKey);
  }
  return refs;
}

export const PGBOUNCER_TLS_FIELD = 'spec.sink.pgbouncer.clientTlsSecretRef';

/** Names of the Secrets a pipeline needs, each once. */
export const secretNames = (r: ResolvedPipeline) => [...new Set(secretReferences(r).map((x) => x.secret))];

/**
 * The references the worker itself reads: all but the autoscaler's monitoring credentials, which only the
 * operator uses, and of PgBouncer's certificate only the CA (the key stays with PgBouncer). Worker pods mount
 * exactly these keys and nothing else of a Secret.
 */
export const workerSecretReferences = (r: ResolvedPipeline): SecretKeyReference[] =>
  secretReferences(r).filter(
    (x) =>
      !x.field.startsWith('spec.autoscaling.') &&
      (x.field !== PGBOUNCER_TLS_FIELD || x.key === r.sink.pgbouncer.clientTls?.caKey),
  );

/** Secret name → the keys of it the worker reads, Secrets in name order. */
export function workerSecretKeys(r: ResolvedPipeline): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const ref of workerSecretReferences(r).sort((a, b) =>
    a.secret < b.secret ? -1 : a.secret > b.secret ? 1 : 0,
  )) {
    const keys = out.get(ref.secret) ?? [];
    if (!keys.includes(ref.key)) keys.push(ref.key);
    out.set(ref.secret, keys);
  }
  return out;
}
