// The Job controller, for Jobs of one completion run by one pod at a time (what the operator's WAL drain Jobs
// are): a pod from the template, a new one after a failed pod (with back-off) until backoffLimit failures, and
// the status a real controller writes (active/ready/succeeded/failed, startTime, completionTime, and the
// SuccessCriteriaMet+Complete or FailureTarget+Failed conditions the API server requires together). Each sync
// takes one step (planJob, pure) and writes the Job's status.

import { randomBytes } from 'node:crypto';
import { BatchV1Api, type V1Job, type V1JobCondition, type V1Pod } from '@kubernetes/client-node';
import { type Cluster, isActive, isNotFound, isoSeconds, isReady, MERGE_PATCH, ownedBy } from './context.ts';
import { createPod, deletePod, normalized } from './workloads.ts';

export interface JobPodView {
  name: string;
  phase: string;
  /** Not being deleted. */
  active: boolean;
  ready: boolean;
  /** When its container ended (failed pods: for the back-off). */
  finishedAt?: number;
}

export interface JobPlan {
  /** Create a pod now. */
  create: boolean;
  /** Create one after this many ms (a back-off after a failure is running). */
  retryInMs?: number;
  /** Running pods to delete: the Job failed. */
  remove: string[];
  /** The Job just finished. */
  finish?: { type: 'Complete' | 'Failed'; reason: string; message: string };
  counts: { active: number; ready: number; succeeded: number; failed: number };
}

/** The real controller's back-off (10 s doubling to 6 min) scaled down like the kubelet's: 1 s doubling to 10 s. */
export const jobBackoffMs = (failures: number) => (failures === 0 ? 0 : Math.min(10_000, 1000 * 2 ** (failures - 1)));

/** One step for a Job that has not finished, from its pods. */
export function planJob(o: { backoffLimit: number; pods: JobPodView[]; now: number }): JobPlan {
  const running = o.pods.filter((p) => p.phase !== 'Succeeded' && p.phase !== 'Failed');
  const failedPods = o.pods.filter((p) => p.phase === 'Failed');
  const counts = {
    active: running.filter((p) => p.active).length,
    ready: running.filter((p) => p.active && p.ready).length,
    succeeded: o.pods.filter((p) => p.phase === 'Succeeded').length,
    failed: failedPods.length,
  };
  if (counts.succeeded > 0) {
    return {
      create: false,
      remove: [],
      finish: { type: 'Complete', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' },
      counts,
    };
  }
  if (counts.failed > o.backoffLimit) {
    return {
      create: false,
      remove: running.filter((p) => p.active).map((p) => p.name),
      finish: {
        type: 'Failed',
        reason: 'BackoffLimitExceeded',
        message: 'Job has reached the specified backoff limit',
      },
      counts,
    };
  }
  // One pod at a time: a terminating one still counts until it is gone.
  if (running.length > 0) return { create: false, remove: [], counts };
  const lastFailure = Math.max(0, ...failedPods.map((p) => p.finishedAt ?? 0));
  const wait = lastFailure + jobBackoffMs(counts.failed) - o.now;
  if (wait > 0) return { create: false, retryInMs: wait, remove: [], counts };
  return { create: true, remove: [], counts };
}

const finishedType = (j: V1Job) =>
  j.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')?.type;

/** One sync of one Job against the namespace's pods: a step, then its status. */
export async function syncJob(cl: Cluster, batch: BatchV1Api, j: V1Job, all: V1Pod[]) {
  if (finishedType(j)) return;
  const name = j.metadata?.name ?? '';
  const pods = all.filter((p) => ownedBy(p, j.metadata?.uid));
  const finished = (p: V1Pod) => p.status?.containerStatuses?.[0]?.state?.terminated?.finishedAt;
  const plan = planJob({
    backoffLimit: j.spec?.backoffLimit ?? 6,
    now: Date.now(),
    pods: pods.map((p) => ({
      name: p.metadata?.name ?? '',
      phase: p.status?.phase ?? 'Pending',
      active: isActive(p),
      ready: isReady(p),
      ...(finished(p) ? { finishedAt: new Date(finished(p) as unknown as string).getTime() } : {}),
    })),
  });
  if (plan.create) await createPod(cl, j, 'Job', `${name}-${randomBytes(3).toString('hex').slice(0, 5)}`, {});
  if (plan.retryInMs) cl.later(plan.retryInMs);
  for (const podName of plan.remove) {
    const p = pods.find((x) => x.metadata?.name === podName);
    if (p) await deletePod(cl, p);
  }
  const now = isoSeconds(new Date()) as unknown as Date;
  const condition = (type: string, reason: string, message: string): V1JobCondition => ({
    type,
    status: 'True',
    reason,
    message,
    lastProbeTime: now,
    lastTransitionTime: now,
  });
  const f = plan.finish;
  const status: Record<string, unknown> = {
    startTime: j.status?.startTime ?? now,
    active: plan.counts.active,
    ready: plan.counts.ready,
    succeeded: plan.counts.succeeded,
    failed: plan.counts.failed,
    ...(f
      ? {
          active: 0,
          conditions: [
            condition(f.type === 'Complete' ? 'SuccessCriteriaMet' : 'FailureTarget', f.reason, f.message),
            condition(f.type, f.reason, f.message),
          ],
          ...(f.type === 'Complete' ? { completionTime: now } : {}),
        }
      : {}),
  };
  const cur = (j.status ?? {}) as Record<string, unknown>;
  if (!Object.entries(status).some(([k, v]) => normalized(cur[k] ?? 0) !== normalized(v))) return;
  try {
    await batch.patchNamespacedJobStatus({ name, namespace: cl.o.namespace, body: { status } }, MERGE_PATCH);
    if (f) cl.log(`Job ${name}: ${f.type} (${f.reason})`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export const batchApi = (cl: Cluster) => cl.kc.makeApiClient(BatchV1Api);
