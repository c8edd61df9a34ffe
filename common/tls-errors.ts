// A certificate the client refused, said so that the user knows which setting to fix: Node reports it as an
// OpenSSL code ("SELF_SIGNED_CERT_IN_CHAIN") that names neither the CA setting nor the host name at fault.
// Used for PostgreSQL (and PgBouncer), MQTT and S3 connections alike.

/** The codes of a chain no trusted CA signed. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);
const OUT_OF_DATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** The settings to name: where the trusted CA comes from, and where the dialled name comes from. */
export interface TlsSettings {
  ca: string;
  name: string;
}

/** Whether `err` is a refused server certificate (retrying will not help until someone changes something). */
export function isCertificateRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return (
    typeof code === 'string' &&
    (UNTRUSTED.has(code) || OUT_OF_DATE.has(code) || code === 'ERR_TLS_CERT_ALTNAME_INVALID')
  );
}

/** What was wrong with the server's certificate and what to change, or undefined for any other error. */
export function certificateProblem(err: unknown, s: TlsSettings): string | undefined {
  const e = err as { code?: unknown; message?: string };
  if (typeof e.code !== 'string') return undefined;
  if (UNTRUSTED.has(e.code)) {
    return `the server's TLS certificate is not signed by a CA this client trusts (${e.code}): put the CA that issued it in ${s.ca}`;
  }
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the server's TLS certificate does not name the host dialled (${e.message}): dial a name the certificate carries (${s.name}) or issue it for this one`;
  }
  if (OUT_OF_DATE.has(e.code)) return `the server's TLS certificate is out of date (${e.code}): renew it`;
  return undefined;
}
