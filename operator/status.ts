// Status: what the user reads in `kubectl get ingp` and what Argo CD's health check reads. Computed as a pure
// function of what the reconcile saw; written only when it differs from the stored status, so an unchanged
// pipeline never gets a new resourceVersion (no status churn, no watch traffic for every GitOps tool).

import type { Condition, IngestPipeline, IngestPipelineStatus, WalDrainStatus } from '../api/types.ts';
import type { KubeObject } from './runtime/kube.ts';
import { subsystemConditions, type WorkerHealth } from './subsystem-conditions.ts';
import { drainSummary } from './wal-drain.ts';

/** A problem the user has to fix (missing Secret, invalid spec...), reported as Degraded. */
export interface Problem {
  reason: string;
  message: string;
}

export interface WorkloadState {
  desired: number;
  ready: number;
  updated: number;
  /** The controller has seen the latest spec and no pod of an older revision is left. */
  rolledOut: boolean;
}

export interface Observation {
  generation: number;
  problem?: Problem;
  /** The pipeline is being deleted and the operator waits for its workers to drain (operator/deletion.ts). */
  draining?: Problem;
  workers?: WorkloadState;
  /** Undefined when PgBouncer is disabled. */
  pgbouncer?: WorkloadState;
  flushers: number;
  poolSize?: number;
  /** WAL volumes of removed ordinals being drained (operator/wal-drain.ts); undefined: not looked at. */
  walDrains?: WalDrainStatus[];
  /** The WAL volumes are being resized (operator/volume-resize.ts): Progressing says so. */
  resizing?: Problem;
  /** Label selector of the worker pods, for messages that tell the user where to look. */
  workerSelector: string;
  namespace: string;
  /** What the worker pods report per subsystem (operator/worker-health.ts); undefined: no such conditions. */
  subsystems?: { paused: boolean; health: WorkerHealth[] | undefined; now: number };
}

type Status = Condition['status'];

/** Rollout state of a Deployment or StatefulSet as its controller reports it in status. */
export function workloadState(obj: KubeObject | undefined): WorkloadState | undefined {
  if (!obj) return undefined;
  const spec = (obj.spec ?? {}) as { replicas?: number };
  const st = (obj.status ?? {}) as {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
  const desired = spec.replicas ?? 1;
  const ready = st.readyReplicas ?? 0;
  const updated = st.updatedReplicas ?? 0;
  const seen = (st.observedGeneration ?? 0) >= (obj.metadata.generation ?? 0);
  const noOldPods =
    obj.kind === 'StatefulSet'
      ? st.currentRevision === st.updateRevision || desired === 0
      : (st.replicas ?? 0) === updated;
  return { desired, ready, updated, rolledOut: seen && updated >= desired && ready >= desired && noOldPods };
}

function condition(type: string, status: Status, reason: string, message: string, generation: number) {
  return { type, status, reason, message, observedGeneration: generation };
}

/**
 * The conditions for an observation (lastTransitionTime filled in by mergeConditions): Ready, Progressing,
 * Degraded, then one per subsystem (operator/subsystem-conditions.ts).
 */
export function computeConditions(o: Observation): Array<Omit<Condition, 'lastTransitionTime'>> {
  const main = mainConditions(o);
  if (!o.subsystems) return main;
  return [
    ...main,
    ...subsystemConditions({
      generation: o.generation,
      workersDesired: o.workers?.desired ?? 0,
      ...o.subsystems,
    }),
  ];
}

function mainConditions(o: Observation): Array<Omit<Condition, 'lastTransitionTime'>> {
  const g = o.generation;
  const logs = `kubectl logs -n ${o.namespace} -l ${o.workerSelector}`;
  if (o.problem) {
    return [
      condition('Ready', 'False', o.problem.reason, o.problem.message, g),
      condition('Progressing', 'False', o.problem.reason, 'Blocked until the problem reported by Degraded is fixed', g),
      condition('Degraded', 'True', o.problem.reason, o.problem.message, g),
    ];
  }
  if (o.draining) {
    return [
      condition('Ready', 'False', o.draining.reason, o.draining.message, g),
      condition('Progressing', 'True', o.draining.reason, o.draining.message, g),
      condition('Degraded', 'False', 'Deleting', 'The pipeline is being deleted; Ready says what it waits for', g),
    ];
  }
  const w = o.workers ?? { desired: 0, ready: 0, updated: 0, rolledOut: false };
  const b = o.pgbouncer;
  const progressing =
    !w.rolledOut || (b && !b.rolledOut)
      ? condition(
          'Progressing',
          'True',
          'RollingOut',
          `${w.updated}/${w.desired} worker pods updated, ${w.ready} ready${b ? `; PgBouncer ${b.ready}/${b.desired} ready` : ''}`,
          g,
        )
      : condition('Progressing', 'False', 'RolloutComplete', 'Every child runs the current spec', g);
  const drains =
    o.walDrains && o.walDrains.length > 0
      ? condition(
          'Progressing',
          'True',
          'DrainingRemovedWorkers',
          progressing.status === 'True'
            ? `${drainSummary(o.walDrains)}; ${progressing.message}`
            : drainSummary(o.walDrains),
          g,
        )
      : undefined;
  let ready: Omit<Condition, 'lastTransitionTime'>;
  if (b && b.ready < b.desired) {
    ready = condition(
      'Ready',
      'False',
      'PgBouncerNotReady',
      `${b.ready}/${b.desired} PgBouncer pods ready; workers reach PostgreSQL only through it (kubectl describe pods -n ${o.namespace} -l app.kubernetes.io/component=pgbouncer)`,
      g,
    );
  } else if (w.desired === 0) {
    ready = condition('Ready', 'True', 'ScaledToZero', 'spec.replicas is 0: no worker runs', g);
  } else if (w.ready < w.desired) {
    ready = condition(
      'Ready',
      'False',
      'WorkersNotReady',
      `${w.ready}/${w.desired} worker pods ready; a worker is ready once it is connected to the broker and its last flush to the database succeeded (${logs})`,
      g,
    );
  } else {
    ready = condition('Ready', 'True', 'WorkersReady', `${w.ready}/${w.desired} worker pods ready`, g);
  }
  const resizing = o.resizing && condition('Progressing', 'True', o.resizing.reason, o.resizing.message, g);
  return [
    ready,
    resizing ?? drains ?? progressing,
    condition('Degraded', 'False', 'ReconcileSucceeded', 'Every child is applied', g),
  ];
}

/** Keeps lastTransitionTime of a condition whose status did not change. */
export function mergeConditions(
  previous: Condition[] | undefined,
  next: Array<Omit<Condition, 'lastTransitionTime'>>,
  now: Date,
): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return { ...c, lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : isoSeconds(now) };
  });
}

/** metav1.Time has second precision; a finer timestamp would read back different and look like a change. */
export const isoSeconds = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;

/** The status fields the reconciler owns (the autoscaler owns the rate, backlog and autoscaling fields). */
export function computeStatus(
  current: IngestPipelineStatus | undefined,
  o: Observation,
  now: Date,
): IngestPipelineStatus {
  return {
    observedGeneration: o.generation,
    conditions: mergeConditions(current?.conditions, computeConditions(o), now),
    ...(o.workers ? { replicas: o.workers.desired, readyReplicas: o.workers.ready } : {}),
    // The scale subresource's labelSelectorPath: what an HPA counts as this pipeline's pods.
    selector: o.workerSelector,
    flushers: o.flushers,
    ...(o.poolSize !== undefined ? { poolSize: o.poolSize } : {}),
    // Written empty once the last drain is done, so the list does not linger (a merge patch keeps absent keys).
    ...(o.walDrains && (o.walDrains.length > 0 || (current?.walDrains?.length ?? 0) > 0)
      ? { walDrains: o.walDrains }
      : {}),
  };
}

/** Whether writing `next` would change the stored status. */
export function statusChanged(current: IngestPipelineStatus | undefined, next: IngestPipelineStatus): boolean {
  const cur = (current ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(next)) {
    if (JSON.stringify(comparable(k, cur[k])) !== JSON.stringify(comparable(k, v))) return true;
  }
  return false;
}

function comparable(key: string, v: unknown): unknown {
  if (key !== 'conditions' || !Array.isArray(v)) return v;
  return [...(v as Condition[])]
    .map((c) => ({
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
      observedGeneration: c.observedGeneration,
      lastTransitionTime: c.lastTransitionTime,
    }))
    .sort((a, b) => (a.type < b.type ? -1 : 1));
}

export interface ConditionChange {
  type: string;
  from?: Status;
  to: Status;
  reason: string;
  message: string;
}

/** Conditions whose status or reason changed: each becomes an Event. */
export function conditionChanges(previous: Condition[] | undefined, next: Condition[]): ConditionChange[] {
  const out: ConditionChange[] = [];
  for (const c of next) {
    const old = previous?.find((p) => p.type === c.type);
    if (old && old.status === c.status && old.reason === c.reason) continue;
    out.push({
      type: c.type,
      ...(old ? { from: old.status } : {}),
      to: c.status,
      reason: c.reason,
      message: c.message,
    });
  }
  return out;
}

export const readyCondition = (p: IngestPipeline) => p.status?.conditions?.find((c) => c.type === 'Ready');
