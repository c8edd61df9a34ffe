// What to do when a Persistent pipeline's WAL volume template changes (wal.storage.size, a wal.sizeLimit that
// derives it, wal.storage.storageClassName): a StatefulSet's volumeClaimTemplates are immutable, so, as
// Strimzi and CloudNativePG do, the existing PVCs are grown in place (where their StorageClass allows
// expansion) and the StatefulSet is replaced by one with the new template: deleted with the Orphan policy (its
// pods and PVCs stay, no acknowledged message is at risk) and re-created at once, adopting the running pods.
// A volume never shrinks: a smaller size is refused. Pure; operator/volume-resizer.ts does the I/O.

import { formatBytes, parseBytes } from '../api/units.ts';
import { isSubset } from './apply.ts';
import type { KubeObject } from './runtime/kube.ts';
import type { Problem } from './status.ts';

export const SHRINK_REFUSED = 'VolumeShrinkRefused';
export const RESIZING = 'ResizingVolumes';
export const EXPANSION_NOT_SUPPORTED = 'VolumeExpansionNotSupported';

interface ClaimTemplate {
  metadata?: { name?: string };
  spec?: { resources?: { requests?: { storage?: string } }; storageClassName?: string };
}

const templatesOf = (set: KubeObject | undefined) =>
  ((set?.spec as { volumeClaimTemplates?: ClaimTemplate[] } | undefined)?.volumeClaimTemplates ??
    []) as ClaimTemplate[];

/** Bytes of a Kubernetes quantity, or undefined for a form this project never writes (e.g. "1e9"). */
export function quantityBytes(q: string | undefined): number | undefined {
  if (q === undefined) return undefined;
  try {
    return parseBytes(q);
  } catch {
    return undefined;
  }
}

/**
 * Whether applying `desired` would change the live StatefulSet's volumeClaimTemplates (which the API server
 * refuses). Fields the API server adds (volumeMode, an empty status) are no difference.
 */
export function claimTemplatesDiffer(desired: KubeObject, live: KubeObject): boolean {
  const want = templatesOf(desired);
  const have = templatesOf(live);
  if (!isSubset(want, have)) return true;
  // isSubset lets `have` hold more keys: a StorageClass dropped from the spec is a difference too.
  return want.some((w, i) => w.spec?.storageClassName !== have[i]?.spec?.storageClassName);
}

/** A live WAL volume as the decision needs it. */
export interface ClaimState {
  name: string;
  /** spec.resources.requests.storage in bytes; undefined when unreadable. */
  requestedBytes?: number;
  storageClassName?: string;
  /** status.phase Bound: only a bound claim can be expanded. */
  bound: boolean;
}

/** A StorageClass's allowVolumeExpansion; absent from the map: the StorageClass does not exist. */
export type Expansion = Map<string, boolean>;

export interface ResizeInput {
  /** The StatefulSet's name, for messages. */
  set: string;
  /** The volume size the spec asks for (the rendered template's request), in bytes. */
  desiredBytes: number;
  /** The live template's request, in bytes (undefined when unreadable). */
  liveBytes?: number;
  /** The pipeline's WAL volumes (not being deleted). */
  claims: ClaimState[];
  expansion: Expansion;
}

export interface ClaimGrowth {
  claim: string;
  from: string;
  to: string;
}

export type ResizePlan =
  | { action: 'refuse'; problem: Problem }
  | {
      action: 'replace';
      /** PVCs to patch to the new request. */
      grow: ClaimGrowth[];
      /** Claims that keep their size, each with why (a Warning Event naming the StorageClass). */
      notExpandable: Array<{ claim: string; why: string }>;
      /** Progressing's message while it happens. */
      message: string;
    };

/** The plan for a volume template change: refuse a shrink, otherwise grow what can grow and replace the set. */
export function planVolumeResize(i: ResizeInput): ResizePlan {
  const want = formatBytes(i.desiredBytes);
  if (i.liveBytes !== undefined && i.desiredBytes < i.liveBytes) {
    const have = formatBytes(i.liveBytes);
    return {
      action: 'refuse',
      problem: {
        reason: SHRINK_REFUSED,
        message: `the WAL volume size ${want} is smaller than the volumes StatefulSet ${i.set} has (${have}): a PersistentVolumeClaim cannot shrink, so the operator changes nothing; set wal.storage.size to ${have} or more (when it is not set, it is derived from wal.sizeLimit: set it to ${have} to lower wal.sizeLimit alone). Smaller volumes need a new pipeline (its own volumes), with this one deleted once drained`,
      },
    };
  }
  const grow: ClaimGrowth[] = [];
  const notExpandable: Array<{ claim: string; why: string }> = [];
  for (const c of [...i.claims].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (c.requestedBytes === undefined || c.requestedBytes >= i.desiredBytes) continue;
    const why = expansionBlocker(c, i.expansion);
    if (why) notExpandable.push({ claim: c.name, why });
    else grow.push({ claim: c.name, from: formatBytes(c.requestedBytes), to: want });
  }
  const parts = [
    grow.length > 0 ? `growing ${grow.map((g) => g.claim).join(', ')} to ${want}` : undefined,
    notExpandable.length > 0 ? `${notExpandable.map((n) => n.claim).join(', ')} keep their size` : undefined,
    `re-creating StatefulSet ${i.set} with the new volume template (${want}); its pods keep running`,
  ].filter(Boolean);
  return { action: 'replace', grow, notExpandable, message: parts.join('; ') };
}

/** Why a claim cannot be expanded, or undefined when it can. */
function expansionBlocker(c: ClaimState, expansion: Expansion): string | undefined {
  const keep = 'it keeps its size; pods of new ordinals get the new size';
  if (!c.storageClassName) {
    return `PersistentVolumeClaim ${c.name} has no StorageClass (a statically provisioned volume), so Kubernetes cannot expand it; ${keep}`;
  }
  const allowed = expansion.get(c.storageClassName);
  if (allowed === undefined) {
    return `StorageClass ${c.storageClassName} of PersistentVolumeClaim ${c.name} does not exist, so the volume cannot be expanded; ${keep}`;
  }
  if (!allowed) {
    return `StorageClass ${c.storageClassName} does not allow volume expansion (allowVolumeExpansion is not true), so PersistentVolumeClaim ${c.name} cannot grow; ${keep}, or expand the volume by your storage's own means`;
  }
  if (!c.bound) {
    return `PersistentVolumeClaim ${c.name} is not bound yet, and only a bound claim can be expanded; ${keep}`;
  }
  return undefined;
}
