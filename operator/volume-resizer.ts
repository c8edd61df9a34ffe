// The I/O of a WAL volume resize (operator/volume-resize.ts decides): a step of the reconcile before the
// apply. Costs nothing while the live StatefulSet's volume template matches the render (the cache says so);
// otherwise it reads the StatefulSet afresh, the pipeline's WAL PVCs and their StorageClasses, grows the
// PVCs, and deletes the StatefulSet with the Orphan policy, waiting until it is gone so the apply that follows
// creates it again with the new template.

import type { Logger } from 'pino';
import type { IngestPipeline } from '../api/types.ts';
import { deleteObject, getIfExists } from './apply.ts';
import type { EventSink } from './events.ts';
import { childKind, PVCS, STORAGE_CLASSES } from './kinds.ts';
import { names, PIPELINE_LABEL, selectorLabels } from './render/meta.ts';
import { WAL_CLAIM_TEMPLATE } from './render/worker.ts';
import {
  ApiError,
  collectionPath,
  type KubeClient,
  type KubeList,
  type KubeObject,
  objectPath,
} from './runtime/kube.ts';
import type { Problem } from './status.ts';
import {
  type ClaimState,
  claimTemplatesDiffer,
  EXPANSION_NOT_SUPPORTED,
  type Expansion,
  planVolumeResize,
  quantityBytes,
  RESIZING,
} from './volume-resize.ts';
import { claimOrdinal } from './wal-drain.ts';

const STATEFULSETS = childKind('StatefulSet');
/** How long a reconcile waits for the orphaning delete to finish (the garbage collector's part) before retrying. */
const GONE_TIMEOUT_MS = 30_000;
const GONE_POLL_MS = 100;

export interface VolumeResizerDeps {
  client: KubeClient;
  events: EventSink;
}

/** A shrink refused (Degraded), or the resize that happened (Progressing). */
export type ResizeOutcome = { problem: Problem } | { resizing: Problem };

interface ClaimShape {
  metadata: KubeObject['metadata'];
  spec?: { resources?: { requests?: { storage?: string } }; storageClassName?: string };
  status?: { phase?: string };
}

/**
 * Before the worker StatefulSet is applied: when its volume template changes, grow the PVCs and replace the
 * set (pods kept). `cached` is the set in the operator's cache.
 */
export async function resizeWalVolumes(
  d: VolumeResizerDeps,
  p: IngestPipeline & KubeObject,
  desired: KubeObject[],
  cached: KubeObject | undefined,
  log: Logger,
): Promise<ResizeOutcome | undefined> {
  const ns = p.metadata.namespace ?? 'default';
  const set = names(p.metadata.name).worker;
  const want = desired.find((o) => o.kind === 'StatefulSet' && o.metadata.name === set);
  if (!want || !cached) return undefined;
  if (!cached.metadata.deletionTimestamp && !claimTemplatesDiffer(want, cached)) return undefined;
  // The cache may lag behind a set re-created a moment ago: decide on the API server's copy.
  const path = objectPath(STATEFULSETS, ns, set);
  const live = await getIfExists(d.client, path);
  if (!live) return undefined;
  const controller = live.metadata.ownerReferences?.find((r) => r.controller);
  if (controller?.uid !== p.metadata.uid) return undefined; // the apply reports the conflict
  if (live.metadata.deletionTimestamp) {
    // Another deletion (kubectl delete) ends on its own, and its DELETED event brings the next reconcile.
    if (!live.metadata.finalizers?.includes('orphan')) return undefined;
    // A replacement whose orphaning delete had not finished when the last reconcile gave up waiting.
    await waitUntilGone(d.client, path, live);
    return { resizing: { reason: RESIZING, message: `re-creating StatefulSet ${set} with the new volume template` } };
  }
  if (!claimTemplatesDiffer(want, { ...live, kind: 'StatefulSet' })) return undefined;

  const claims = await walClaims(d.client, p.metadata.name, ns);
  const plan = planVolumeResize({
    set,
    desiredBytes: templateBytes(want) ?? 0,
    ...(templateBytes(live) !== undefined ? { liveBytes: templateBytes(live) } : {}),
    claims,
    expansion: await expansionOf(d.client, claims),
  });
  if (plan.action === 'refuse') {
    log.warn({ reason: plan.problem.reason }, plan.problem.message);
    return { problem: plan.problem };
  }
  const notExpandable = [...plan.notExpandable];
  const grown: string[] = [];
  for (const g of plan.grow) {
    try {
      await d.client.request('PATCH', objectPath(PVCS, ns, g.claim), {
        body: { spec: { resources: { requests: { storage: g.to } } } },
        contentType: 'application/merge-patch+json',
      });
      grown.push(`${g.claim} ${g.from} → ${g.to}`);
      log.info({ claim: g.claim, from: g.from, to: g.to }, 'WAL volume expansion requested');
    } catch (err) {
      // The API server's own resize admission (a StorageClass this operator could not read, say): its word.
      if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429) throw err;
      const claim = claims.find((c) => c.name === g.claim);
      notExpandable.push({
        claim: g.claim,
        why: `the API server refused to grow PersistentVolumeClaim ${g.claim} (StorageClass ${claim?.storageClassName ?? 'none'}): ${err.message}; it keeps its size, pods of new ordinals get the new size`,
      });
    }
  }
  if (grown.length > 0) d.events.emit(p, 'Normal', 'VolumeExpanding', `WAL volumes growing: ${grown.join(', ')}`);
  for (const n of notExpandable) {
    log.warn({ claim: n.claim }, n.why);
    d.events.emit(p, 'Warning', EXPANSION_NOT_SUPPORTED, n.why);
  }
  // Orphan: the pods (and with the Retain policy the PVCs) stay; the new set adopts them, and the same pod
  // template hashes to the same revision, so no pod restarts.
  await deleteObject(d.client, { ...live, kind: 'StatefulSet' }, STATEFULSETS, 'Orphan');
  // The Progressing condition's change to ResizingVolumes makes the Event.
  log.info({ statefulSet: set }, plan.message);
  await waitUntilGone(d.client, path, live);
  return { resizing: { reason: RESIZING, message: plan.message } };
}

const templateBytes = (set: KubeObject) =>
  quantityBytes(
    (set.spec as { volumeClaimTemplates?: Array<{ spec?: { resources?: { requests?: { storage?: string } } } }> })
      .volumeClaimTemplates?.[0]?.spec?.resources?.requests?.storage,
  );

/** The pipeline's WAL PVCs (`wal-<pipeline>-worker-<n>` with its worker labels), those not being deleted. */
async function walClaims(client: KubeClient, pipeline: string, ns: string): Promise<ClaimState[]> {
  const selector = Object.entries({ ...selectorLabels(pipeline, 'worker'), [PIPELINE_LABEL]: pipeline })
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const list = await client.request<KubeList<ClaimShape & KubeObject>>('GET', collectionPath(PVCS, ns), {
    query: { labelSelector: selector },
  });
  return list.items
    .filter(
      (c) =>
        !c.metadata.deletionTimestamp &&
        claimOrdinal(c.metadata.name, WAL_CLAIM_TEMPLATE, names(pipeline).worker) !== undefined,
    )
    .map((c) => {
      const bytes = quantityBytes(c.spec?.resources?.requests?.storage);
      return {
        name: c.metadata.name,
        ...(bytes !== undefined ? { requestedBytes: bytes } : {}),
        ...(c.spec?.storageClassName ? { storageClassName: c.spec.storageClassName } : {}),
        bound: c.status?.phase === 'Bound',
      };
    });
}

/** allowVolumeExpansion of each StorageClass the claims name (absent: no such StorageClass). */
async function expansionOf(client: KubeClient, claims: ClaimState[]): Promise<Expansion> {
  const out: Expansion = new Map();
  for (const name of new Set(claims.flatMap((c) => (c.storageClassName ? [c.storageClassName] : [])))) {
    try {
      const sc = await getIfExists(client, objectPath(STORAGE_CLASSES, undefined, name));
      if (sc) out.set(name, (sc as { allowVolumeExpansion?: boolean }).allowVolumeExpansion === true);
    } catch (err) {
      // Namespaced mode: a RoleBinding cannot grant a cluster-scoped read. Try, and let the API server decide.
      if (!(err instanceof ApiError) || err.status !== 403) throw err;
      out.set(name, true);
    }
  }
  return out;
}

/** Until the object of that uid is gone; throws after GONE_TIMEOUT_MS, so the work queue retries. */
async function waitUntilGone(client: KubeClient, path: string, obj: KubeObject): Promise<void> {
  const deadline = Date.now() + GONE_TIMEOUT_MS;
  for (;;) {
    const now = await getIfExists(client, path);
    if (!now || now.metadata.uid !== obj.metadata.uid) return;
    if (Date.now() > deadline) {
      throw new Error(
        `StatefulSet ${obj.metadata.name} is still being deleted (Orphan policy: the garbage collector releases its pods first); the operator retries and re-creates it once it is gone`,
      );
    }
    await new Promise((r) => setTimeout(r, GONE_POLL_MS));
  }
}
