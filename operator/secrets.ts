// What the referenced Secrets say about a pipeline, decided without I/O: which Secret or key is missing
// (named with the spec field and the command that fixes it) and PgBouncer's credentials. The reconciler
// reads the Secrets from the API server, `mqtt2pg render --secrets-dir` from files; both decide here.

import type { ResolvedBasicAuthRef, ResolvedPipeline } from '../api/defaults.ts';
import { type SecretKeyReference, secretReferences } from '../api/secret-refs.ts';
import type { PgBouncerCredentials } from './render/pgbouncer.ts';
import { PGBOUNCER_ADMIN_USER } from './render/pgbouncer-admin.ts';

/** A Secret's data as the API serves it: key → base64. */
export type SecretData = Record<string, string>;

export interface SecretProblem {
  reason: 'SecretNotFound' | 'SecretKeyMissing' | 'InvalidCredentials';
  message: string;
}

/** The Secrets a pipeline references, each once. */
export const referencedSecrets = (r: ResolvedPipeline): string[] => [
  ...new Set(secretReferences(r).map((x) => x.secret)),
];

function kubectlHint(secret: string, ns: string, keys: string[]) {
  return `kubectl create secret generic ${secret} -n ${ns} ${keys.map((k) => `--from-literal=${k}=...`).join(' ')}`;
}

/** The first missing Secret or key, named with the field that references it and how to fix it. */
export function secretProblem(
  ns: string,
  refs: SecretKeyReference[],
  data: Map<string, SecretData>,
): SecretProblem | undefined {
  const missingSecrets = [...new Set(refs.filter((r) => !data.has(r.secret)).map((r) => r.secret))];
  if (missingSecrets.length > 0) {
    const parts = missingSecrets.map((s) => {
      const own = refs.filter((r) => r.secret === s);
      const fields = [...new Set(own.map((r) => r.field))].join(', ');
      return `${fields}: Secret "${s}" not found in namespace ${ns}; create it (${kubectlHint(s, ns, [...new Set(own.map((r) => r.key))])})`;
    });
    return { reason: 'SecretNotFound', message: parts.join('; ') };
  }
  const missingKeys = refs.filter((r) => data.get(r.secret)?.[r.key] === undefined);
  if (missingKeys.length > 0) {
    const parts = missingKeys.map((r) => {
      const has = Object.keys(data.get(r.secret) ?? {}).sort();
      return `${r.field}: Secret "${r.secret}" has no key "${r.key}" (it has: ${has.join(', ') || 'no keys'}); add the key or point the reference at the key that holds the value`;
    });
    return { reason: 'SecretKeyMissing', message: parts.join('; ') };
  }
  return undefined;
}

/** A Secret value as text, without the trailing newline `kubectl create secret --from-file` keeps. */
export const secretText = (b64: string | undefined) =>
  Buffer.from(b64 ?? '', 'base64')
    .toString('utf8')
    .replace(/\r?\n$/, '');

export function credentialsOf(
  r: ResolvedPipeline,
  data: Map<string, SecretData>,
  c: ResolvedBasicAuthRef = r.sink.postgres.credentials,
): PgBouncerCredentials {
  const d = data.get(c.name) ?? {};
  return { username: secretText(d[c.usernameKey]), password: secretText(d[c.passwordKey]) };
}

/**
 * PgBouncer's files are line-based: both values go into userlist.txt. A value that cannot be written there as
 * itself is refused rather than escaped into something else, or a newline in a user name would inject lines
 * into PgBouncer's files. The admin console's user is the operator's own and cannot be taken.
 */
export function pgbouncerCredentialsProblem(
  r: ResolvedPipeline,
  c: PgBouncerCredentials,
  ref: ResolvedBasicAuthRef = r.sink.postgres.credentials,
  field = 'spec.sink.postgres.credentialsSecretRef',
): SecretProblem | undefined {
  const where = (key: string) => `${field}: Secret "${ref.name}" key "${key}"`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  const control = /[\u0000-\u001f\u007f]/;
  const problems: string[] = [];
  if (c.username === '') problems.push(`${where(ref.usernameKey)} is empty`);
  if (/[\s,"'=;#\\]/.test(c.username) || control.test(c.username)) {
    problems.push(
      `${where(ref.usernameKey)} holds a user name PgBouncer cannot list (white space, a control character or one of , " ' = ; # \\); use a plain role name`,
    );
  }
  if (c.username === PGBOUNCER_ADMIN_USER) {
    problems.push(
      `${where(ref.usernameKey)} is "${PGBOUNCER_ADMIN_USER}", the name of the operator's own PgBouncer admin user; use another role`,
    );
  }
  if (control.test(c.password)) {
    problems.push(
      `${where(ref.passwordKey)} holds a control character (a trailing newline is dropped; others are not allowed)`,
    );
  }
  if (problems.length === 0) return undefined;
  return {
    reason: 'InvalidCredentials',
    message: `${problems.join('; ')}; with spec.sink.pgbouncer.enabled the operator writes them into PgBouncer's files`,
  };
}
