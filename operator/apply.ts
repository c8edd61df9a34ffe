// Server-side apply of a pipeline's children. Apply (not update) so the operator owns exactly the fields it
// renders: fields other controllers set (the Deployment controller's status, a defaulted clusterIP) are left
// alone, fields it owns and someone edited by hand are put back (force), fields it stops rendering are
// removed. An apply the live object already satisfies is skipped without a request, so a resync of an
// unchanged pipeline costs the API server nothing and never bumps a resourceVersion. Force applies only to
// the operator's own children: an object of the same name it did not create (no controller reference to the
// pipeline) is never taken over, changed or deleted; the pipeline reports the conflict instead.

import { childKind } from './kinds.ts';
import { APPLIED_HASH_ANNOTATION, FIELD_MANAGER, stableHash } from './render/meta.ts';
import { isNotFound, type KubeClient, type KubeObject, objectPath, type ResourceType } from './runtime/kube.ts';

export type ApplyAction = 'Created' | 'Patched' | 'Noop' | 'Deleted';

export interface ApplyResult {
  kind: string;
  name: string;
  action: ApplyAction;
  object?: KubeObject;
}

/** An object of a child's name exists and the pipeline does not control it: the user has to resolve it. */
export class OwnershipConflict extends Error {
  readonly kind: string;
  readonly objectName: string;
  constructor(kind: string, name: string, namespace: string | undefined, controller: string | undefined) {
    super(
      `${kind} ${name} already exists and is not owned by this pipeline (${controller ? `it is controlled by ${controller}` : 'it has no controller'}); the operator does not take over objects it did not create: delete or rename it (kubectl delete ${kind.toLowerCase()} ${name}${namespace ? ` -n ${namespace}` : ''}), or give the pipeline another name`,
    );
    this.name = 'OwnershipConflict';
    this.kind = kind;
    this.objectName = name;
  }
}

/** The conflict `live` poses for a child of the pipeline `ownerUid`, or undefined when it is absent or ours. */
export function ownershipConflict(ownerUid: string, live: KubeObject | undefined): OwnershipConflict | undefined {
  if (!live) return undefined;
  const controller = (live.metadata.ownerReferences ?? []).find((r) => r.controller);
  if (controller?.uid === ownerUid) return undefined;
  return new OwnershipConflict(
    String(live.kind),
    live.metadata.name,
    live.metadata.namespace,
    controller ? `${controller.kind} ${controller.name}` : undefined,
  );
}

/** The desired object stamped with the hash of its own content. */
export function withAppliedHash(desired: KubeObject): KubeObject {
  const hash = stableHash(desired);
  return {
    ...desired,
    metadata: {
      ...desired.metadata,
      annotations: { ...(desired.metadata.annotations ?? {}), [APPLIED_HASH_ANNOTATION]: hash },
    },
  };
}

/**
 * True when every field of `want` is in `have` with the same value. Arrays must match element by element
 * with equal length; objects may hold more keys (defaults the API server adds).
 */
export function isSubset(want: unknown, have: unknown): boolean {
  if (want === have) return true;
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) return false;
    return want.every((w, i) => isSubset(w, have[i]));
  }
  if (want && typeof want === 'object') {
    if (!have || typeof have !== 'object' || Array.isArray(have)) return false;
    const h = have as Record<string, unknown>;
    return Object.entries(want as Record<string, unknown>).every(([k, v]) => v === undefined || isSubset(v, h[k]));
  }
  return false;
}

/** Whether applying `stamped` (see withAppliedHash) could change `live`. */
export function needsApply(stamped: KubeObject, live: KubeObject | undefined): boolean {
  if (!live || live.metadata.deletionTimestamp) return true;
  const wantHash = stamped.metadata.annotations?.[APPLIED_HASH_ANNOTATION];
  if (live.metadata.annotations?.[APPLIED_HASH_ANNOTATION] !== wantHash) return true;
  const { metadata: wm, ...wantRest } = stamped;
  const { metadata: hm, ...haveRest } = live;
  const wantMeta = { labels: wm.labels, annotations: wm.annotations, ownerReferences: wm.ownerReferences };
  return !isSubset(wantMeta, hm) || !isSubset(wantRest, haveRest);
}

/**
 * Applies `desired` (a child of the pipeline `ownerUid`). `live` comes from the operator's cache, which holds
 * only objects with the operator's labels: without it, the API server is asked whether an object of that
 * name already exists (a creation, or a foreign object), so a foreign one is refused, never overwritten.
 */
export async function applyObject(
  client: KubeClient,
  ownerUid: string,
  desired: KubeObject,
  cached?: KubeObject,
): Promise<ApplyResult> {
  const kind = String(desired.kind);
  const name = desired.metadata.name;
  const type = childKind(kind);
  const path = objectPath(type, desired.metadata.namespace, name);
  const live = cached ?? (await getIfExists(client, path));
  const conflict = ownershipConflict(ownerUid, live && { ...live, kind });
  if (conflict) throw conflict;
  const stamped = withAppliedHash(desired);
  if (!needsApply(stamped, live)) return { kind, name, action: 'Noop', ...(live ? { object: live } : {}) };
  const applied = await client.request<KubeObject>('PATCH', path, {
    query: { fieldManager: FIELD_MANAGER, force: true },
    body: stamped,
    contentType: 'application/apply-patch+yaml',
  });
  const action: ApplyAction = !live
    ? 'Created'
    : live.metadata.resourceVersion === applied.metadata.resourceVersion
      ? 'Noop'
      : 'Patched';
  return { kind, name, action, object: applied };
}

/** The object at `path`, or undefined when there is none. */
export async function getIfExists(client: KubeClient, path: string): Promise<KubeObject | undefined> {
  try {
    // From the API server's watch cache (resourceVersion 0): no etcd read per child. As fresh as it needs to
    // be: an object created after this read could as well be created after a quorum read.
    return await client.request<KubeObject>('GET', path, { query: { resourceVersion: '0' } });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Deletes this very object (uid precondition), its dependents in the background (or, Orphan, left in place);
 * `type` for a non-child kind.
 */
export async function deleteObject(
  client: KubeClient,
  obj: KubeObject,
  type: ResourceType = childKind(String(obj.kind)),
  propagationPolicy: 'Background' | 'Orphan' = 'Background',
): Promise<ApplyResult> {
  const kind = String(obj.kind ?? type.kind);
  try {
    await client.request('DELETE', objectPath(type, obj.metadata.namespace, obj.metadata.name), {
      body: {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        propagationPolicy,
        preconditions: { uid: obj.metadata.uid },
      },
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return { kind, name: obj.metadata.name, action: 'Deleted' };
}

/** Children the pipeline (by uid) controls that the current render no longer produces. */
export function orphanedChildren(ownerUid: string, desired: KubeObject[], live: KubeObject[]): KubeObject[] {
  const want = new Set(desired.map((d) => `${d.kind}/${d.metadata.name}`));
  return live.filter(
    (o) =>
      !o.metadata.deletionTimestamp &&
      (o.metadata.ownerReferences ?? []).some((r) => r.uid === ownerUid && r.controller) &&
      !want.has(`${o.kind}/${o.metadata.name}`),
  );
}

/** Workloads mount what the rest of the children hold: on a first rollout they come last. */
const LAST_WAVE = new Set(['Deployment', 'StatefulSet']);

/**
 * Applies every desired child, in two waves of parallel requests (identities, configuration and the rest,
 * then the workloads that mount them), pushing each result into `results` as it completes so that a failure
 * still reports what did change. Throws the first error once its wave has settled.
 */
export async function applyAll(
  client: KubeClient,
  ownerUid: string,
  desired: KubeObject[],
  cached: (obj: KubeObject) => KubeObject | undefined,
  results: ApplyResult[],
): Promise<void> {
  for (const wave of [
    desired.filter((d) => !LAST_WAVE.has(String(d.kind))),
    desired.filter((d) => LAST_WAVE.has(String(d.kind))),
  ]) {
    const settled = await Promise.allSettled(
      wave.map(async (obj) => results.push(await applyObject(client, ownerUid, obj, cached(obj)))),
    );
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** One Event per kind of change (Created, Updated, Deleted) of a reconcile, naming the children: not one per child. */
export function changeEvents(results: ApplyResult[]): Array<{ reason: string; message: string }> {
  const by = new Map<string, string[]>();
  for (const r of results) {
    if (r.action === 'Noop') continue;
    const reason = r.action === 'Patched' ? 'Updated' : r.action;
    by.set(reason, [...(by.get(reason) ?? []), `${r.kind} ${r.name}`]);
  }
  return [...by].map(([reason, objs]) => ({ reason, message: `${reason.toLowerCase()} ${objs.join(', ')}` }));
}
