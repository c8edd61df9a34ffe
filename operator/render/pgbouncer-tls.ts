// TLS between the workers and their PgBouncer (spec.sink.pgbouncer.clientTlsSecretRef): PgBouncer serves the
// certificate of that Secret and refuses plaintext clients (client_tls_sslmode = require); the workers
// connect with the pipeline's sslMode and trust the Secret's CA key, which is all of the Secret they mount.
// verify-full checks the name the workers dial, <pipeline>-pgbouncer.<namespace>.svc; the operator's admin
// console connections go to pod IPs and check the certificate against that same name.

import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { ResolvedPipeline } from '../../api/defaults.ts';
import type { PostgresSpec } from '../../api/types.ts';
import { names } from './meta.ts';

export const PGBOUNCER_CLIENT_TLS_DIR = '/etc/pgbouncer-client-tls';

/** The name a PgBouncer certificate must carry for verify-full: the Service the workers dial. */
export const pgbouncerServiceName = (r: ResolvedPipeline) => `${names(r.name).pgbouncer}.${r.namespace}.svc`;

/** pgbouncer.ini lines for the client side: TLS required, with the mounted certificate and key. */
export function clientTlsIniLines(r: ResolvedPipeline): string[] {
  const t = r.sink.pgbouncer.clientTls;
  if (!t) return [];
  return [
    'client_tls_sslmode = require',
    `client_tls_cert_file = ${PGBOUNCER_CLIENT_TLS_DIR}/tls.crt`,
    `client_tls_key_file = ${PGBOUNCER_CLIENT_TLS_DIR}/tls.key`,
  ];
}

/** The certificate and key of the Secret, mounted under fixed names (the keys are the user's choice). */
export function clientTlsVolume(r: ResolvedPipeline): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const t = r.sink.pgbouncer.clientTls;
  if (!t) return { volumes: [], mounts: [] };
  return {
    volumes: [
      {
        name: 'client-tls',
        secret: {
          secretName: t.name,
          defaultMode: 0o440,
          items: [
            { key: t.certKey, path: 'tls.crt' },
            { key: t.keyKey, path: 'tls.key' },
          ],
        },
      },
    ],
    mounts: [{ name: 'client-tls', mountPath: PGBOUNCER_CLIENT_TLS_DIR, readOnly: true }],
  };
}

/**
 * sink.postgres of the worker's configuration when it goes through the pipeline's PgBouncer: its address,
 * and TLS as the pipeline asks with PgBouncer's CA when PgBouncer serves TLS; plaintext otherwise (TLS to
 * PostgreSQL is then PgBouncer's job alone).
 */
export function workerPostgresViaPgBouncer(r: ResolvedPipeline, postgres: PostgresSpec, port: number): PostgresSpec {
  const { caSecretRef: _ca, sslMode: _mode, ...rest } = postgres;
  const t = r.sink.pgbouncer.clientTls;
  const tls: Pick<PostgresSpec, 'sslMode' | 'caSecretRef'> = t
    ? { sslMode: r.sink.postgres.sslMode, caSecretRef: { name: t.name, key: t.caKey } }
    : { sslMode: 'disable' };
  return { ...rest, host: pgbouncerServiceName(r), port, ...tls };
}
