// Deleting a pipeline in order. Without a finalizer the garbage collector deletes every child at once, and
// PgBouncer (30 s grace) is gone while the workers still drain their WAL through it (up to 55 s): what they
// acknowledged but had not flushed goes with their pods. With the finalizer the operator first scales the
// workers to 0, waits until no worker pod is left (each one drained on SIGTERM, PgBouncer still serving),
// then drains the WAL volumes the workers left (Persistent: a Job per PVC, operator/wal-drain.ts) while
// PgBouncer still serves, deletes each volume once drained, and only then lets the garbage collector take the
// rest. Pure: the pipeline and what the caches show in,
// the next step out; operator/reconcile.ts does the I/O.

import type { KubeObject } from './runtime/kube.ts';

/** Held on every pipeline the operator reconciles; removed once its workers have drained. */
export const DRAIN_FINALIZER = 'mqtt2pg.io/drain';
/** `"true"` on a pipeline being deleted: remove the finalizer now, without waiting for the workers. */
export const FORCE_DELETE_ANNOTATION = 'mqtt2pg.io/force-delete';
/** How often a deletion that waits looks again (pod deletions also wake it at once). */
export const DRAIN_POLL_MS = 5_000;

/** What the caches show of the pipeline's workers. */
export interface WorkerState {
  /** The worker Deployment or StatefulSet, if it exists and is not itself being deleted. */
  workload?: { kind: string; name: string; replicas: number };
  /** Worker pods that still exist, terminating ones included: each may hold a WAL it is still flushing. */
  pods: number;
  /** WAL volumes (PVCs) of the pipeline's workers still there: each may hold what its worker could not flush. */
  walVolumes: number;
}

export type DeletionStep =
  /** Not being deleted: reconcile as usual, adding the finalizer first when it is missing. */
  | { step: 'reconcile'; addFinalizer: boolean }
  /** Being deleted and the finalizer is already gone (or never was): nothing to do. */
  | { step: 'forget' }
  /** Stop intake: set the workload's replicas to 0, then wait. */
  | { step: 'scaleDown'; kind: string; name: string; reason: 'Draining'; message: string }
  | { step: 'wait'; reason: 'Draining'; message: string }
  /** The workers are gone, their volumes are not: drain each with a Job, delete it once drained, then look again. */
  | { step: 'drainVolumes'; reason: 'Draining'; message: string }
  /** Remove the finalizer: the garbage collector deletes the children, PgBouncer among them. */
  | { step: 'release'; reason: 'Drained' | 'ForceDeleted'; message: string };

export function hasFinalizer(p: KubeObject): boolean {
  return (p.metadata.finalizers ?? []).includes(DRAIN_FINALIZER);
}

export const forceDelete = (p: KubeObject) => p.metadata.annotations?.[FORCE_DELETE_ANNOTATION] === 'true';

const pods = (n: number) => `${n} worker pod${n === 1 ? '' : 's'}`;
const volumes = (n: number) => `${n} WAL volume${n === 1 ? '' : 's'}`;

export function deletionStep(p: KubeObject, w: WorkerState): DeletionStep {
  if (!p.metadata.deletionTimestamp) return { step: 'reconcile', addFinalizer: !hasFinalizer(p) };
  if (!hasFinalizer(p)) return { step: 'forget' };
  if (forceDelete(p)) {
    return {
      step: 'release',
      reason: 'ForceDeleted',
      message: `${FORCE_DELETE_ANNOTATION} is "true": deleting without waiting for ${pods(w.pods)} and ${volumes(w.walVolumes)} to drain; what their WALs still hold may be lost (Persistent WAL volumes not yet drained are kept)`,
    };
  }
  const waiting = `waiting for ${pods(w.pods)} to drain their WAL before PgBouncer and the other children are deleted (annotate ${FORCE_DELETE_ANNOTATION}=true to skip)`;
  if (w.workload && w.workload.replicas > 0) {
    return {
      step: 'scaleDown',
      kind: w.workload.kind,
      name: w.workload.name,
      reason: 'Draining',
      message: `${w.workload.kind} ${w.workload.name} scaled to 0 to stop intake; ${waiting}`,
    };
  }
  if (w.pods > 0) return { step: 'wait', reason: 'Draining', message: waiting };
  if (w.walVolumes > 0) {
    return {
      step: 'drainVolumes',
      reason: 'Draining',
      message: `draining ${volumes(w.walVolumes)} the workers left (a Job with mqtt2pg drain each, status.walDrains) before PgBouncer and the other children are deleted (annotate ${FORCE_DELETE_ANNOTATION}=true to skip)`,
    };
  }
  return {
    step: 'release',
    reason: 'Drained',
    message: 'every worker pod and WAL volume has drained; deleting the children',
  };
}
