// What each sslMode means for a node-postgres connection, in one place: the worker's connections (flushers,
// the startup check, migrations) and the operator's monitoring connections (the autoscaler reading
// PostgreSQL and the PgBouncer admin consoles) verify the same way. The meanings are libpq's.

import type { ClientConfig } from 'pg';

export type PgSslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

/** TLS of a connection that uses it: the mode and the CA (PEM) to trust; none: the system's CAs. */
export interface PgTls {
  mode: Exclude<PgSslMode, 'disable'>;
  ca?: string | Buffer;
  /** The name the certificate must carry when it is not the host dialled (a pod IP behind a Service name). */
  servername?: string;
}

export function pgSsl(mode: PgSslMode, ca?: string | Buffer, servername?: string): ClientConfig['ssl'] {
  const ssl = pgSslOf(mode, ca);
  return typeof ssl === 'object' && servername ? { ...ssl, servername } : ssl;
}

function pgSslOf(mode: PgSslMode, ca?: string | Buffer): ClientConfig['ssl'] {
  switch (mode) {
    case 'disable':
      return false;
    case 'require':
      // Encrypted, not authenticated: a man in the middle is not noticed (libpq's require without a root CA).
      return { rejectUnauthorized: false };
    case 'verify-ca':
      // The chain is checked, the host name is not.
      return { ...(ca ? { ca } : {}), checkServerIdentity: () => undefined };
    case 'verify-full':
      return ca ? { ca } : {};
  }
}
