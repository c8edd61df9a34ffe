// The password of a pipeline's PgBouncer admin user (operator/render/pgbouncer-admin.ts): generated once,
// then read back from the operator-owned Secret `<pipeline>-pgbouncer-admin` on every reconcile, so it stays
// the same while that Secret lives. A Secret that is gone or holds something else gets a new password (and
// PgBouncer rolls onto it through its pod hash).

import { randomBytes } from 'node:crypto';
import { ownershipConflict } from './apply.ts';
import { names } from './render/meta.ts';
import { adminPasswordOf } from './render/pgbouncer-admin.ts';
import type { InformerSet } from './runtime/informer.ts';
import { isNotFound, type KubeClient, type KubeObject } from './runtime/kube.ts';

type SecretObject = KubeObject & { data?: Record<string, string> };

/** 192 random bits, base64url: nothing to quote in userlist.txt or a connection string. */
export const generateAdminPassword = () => randomBytes(24).toString('base64url');

/** The password in the pipeline's own admin Secret; one it does not control is never read (nor taken over). */
const ownPassword = (uid: string, s: SecretObject | undefined) =>
  s && !ownershipConflict(uid, s) ? adminPasswordOf(s.data) : undefined;

/**
 * The admin password of pipeline `p`: from the children cache, else the API server
 * (the cache may not hold a Secret applied a moment ago; generating anew then would roll PgBouncer for
 * nothing), else new.
 */
export async function pgbouncerAdminPassword(
  client: KubeClient,
  secrets: InformerSet | undefined,
  p: KubeObject,
): Promise<string> {
  const ns = p.metadata.namespace ?? 'default';
  const uid = p.metadata.uid ?? '';
  const name = names(p.metadata.name).pgbouncerAdmin;
  const cached = ownPassword(uid, secrets?.get(`${ns}/${name}`) as SecretObject | undefined);
  if (cached) return cached;
  try {
    const live = await client.request<SecretObject>('GET', `/api/v1/namespaces/${ns}/secrets/${name}`);
    return ownPassword(uid, live) ?? generateAdminPassword();
  } catch (err) {
    if (isNotFound(err)) return generateAdminPassword();
    throw err;
  }
}
