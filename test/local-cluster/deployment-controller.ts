// The Deployment controller, without ReplicaSet objects: pods are owned by the Deployment directly and carry
// the pod-template-hash of the template they run. Each sync takes one rollout step (planDeployment, pure) and
// writes the Deployment's status as the real controller would, which the operator reads.

import { randomBytes } from 'node:crypto';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { type Cluster, isActive, isoSeconds, isReady, ownedBy } from './context.ts';
import { createPod, deletePod, templateHash, writeWorkloadStatus } from './workloads.ts';

/** A count or a percentage of `total` (maxSurge rounds up, maxUnavailable down, as the controller does). */
function intOrPercent(v: number | string | undefined, total: number, fallback: string, roundUp: boolean): number {
  const x = v ?? fallback;
  if (typeof x === 'number') return x;
  const pct = Number(x.replace('%', ''));
  const n = (pct * total) / 100;
  return roundUp ? Math.ceil(n) : Math.floor(n);
}

export interface PodView {
  name: string;
  ready: boolean;
  /** creationTimestamp, for oldest-first choices. */
  created: string;
  /** Runs the current template (pod-template-hash). */
  fresh: boolean;
}

/**
 * One step of the Deployment controller for pods that are not terminating: how many new pods to create and
 * which to delete. RollingUpdate: at most replicas + maxSurge pods, old pods removed only while at least
 * replicas - maxUnavailable stay ready (unready old pods first); Recreate: every old pod gone before any new one.
 */
export function planDeployment(o: {
  replicas: number;
  strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
  active: PodView[];
  terminating: number;
}): { create: number; remove: string[]; maxUnavailable: number } {
  const n = o.replicas;
  const rolling = o.strategy?.type !== 'Recreate';
  const surge = rolling ? intOrPercent(o.strategy?.rollingUpdate?.maxSurge, n, '25%', true) : 0;
  const maxUnavailable = rolling ? intOrPercent(o.strategy?.rollingUpdate?.maxUnavailable, n, '25%', false) : n;
  // Oldest pods go first, unready ones before ready ones.
  const order = (a: PodView, b: PodView) => Number(a.ready) - Number(b.ready) || a.created.localeCompare(b.created);
  const fresh = o.active.filter((p) => p.fresh);
  const old = o.active.filter((p) => !p.fresh).sort(order);
  const remove: string[] = [];
  let create = 0;
  if (!rolling) {
    if (old.length > 0) remove.push(...old.map((p) => p.name));
    else if (o.terminating === 0 && fresh.length < n) create = n - fresh.length;
    else if (fresh.length > n)
      remove.push(
        ...fresh
          .sort(order)
          .slice(0, fresh.length - n)
          .map((p) => p.name),
      );
  } else if (old.length === 0) {
    if (fresh.length < n) create = n - fresh.length;
    else
      remove.push(
        ...fresh
          .sort(order)
          .slice(0, fresh.length - n)
          .map((p) => p.name),
      );
  } else {
    create = Math.max(0, Math.min(n - fresh.length, n + surge - o.active.length));
    const minAvailable = n - maxUnavailable;
    const freshUnready = fresh.filter((p) => !p.ready).length + create;
    let budget = o.active.length + create - minAvailable - freshUnready;
    for (const p of old.filter((x) => !x.ready)) {
      if (budget <= 0) break;
      remove.push(p.name);
      budget--;
    }
    let readyLeft = o.active.filter((p) => p.ready).length;
    for (const p of old.filter((x) => x.ready)) {
      if (budget <= 0 || readyLeft - 1 < minAvailable) break;
      remove.push(p.name);
      budget--;
      readyLeft--;
    }
  }
  return { create, remove, maxUnavailable };
}

/** One sync of one Deployment against the namespace's pods: a rollout step, then its status. */
export async function syncDeployment(cl: Cluster, d: V1Deployment, all: V1Pod[]) {
  const name = d.metadata?.name ?? '';
  const n = d.spec?.replicas ?? 1;
  const hash = templateHash(d.spec?.template);
  const pods = all.filter((p) => ownedBy(p, d.metadata?.uid));
  const active = pods.filter(isActive);
  const fresh = active.filter((p) => p.metadata?.labels?.['pod-template-hash'] === hash);
  const old = active.filter((p) => p.metadata?.labels?.['pod-template-hash'] !== hash);
  const view = (p: V1Pod, isFresh: boolean): PodView => ({
    name: p.metadata?.name ?? '',
    ready: isReady(p),
    // The client hands out Dates; ISO strings sort by time.
    created: p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp).toISOString() : '',
    fresh: isFresh,
  });
  const plan = planDeployment({
    replicas: n,
    strategy: d.spec?.strategy,
    active: [...fresh.map((p) => view(p, true)), ...old.map((p) => view(p, false))],
    terminating: pods.length - active.length,
  });
  for (let i = 0; i < plan.create; i++) {
    const podName = `${name}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    await createPod(cl, d, 'Deployment', podName, { 'pod-template-hash': hash });
  }
  for (const p of active.filter((x) => plan.remove.includes(x.metadata?.name ?? ''))) await deletePod(cl, p);
  const ready = active.filter(isReady).length;
  const freshReady = fresh.filter(isReady).length;
  const status = {
    observedGeneration: d.metadata?.generation,
    replicas: active.length,
    updatedReplicas: fresh.length,
    readyReplicas: ready,
    availableReplicas: ready,
    ...(active.length - ready > 0 ? { unavailableReplicas: active.length - ready } : {}),
    conditions: [
      deployCondition(
        d,
        'Available',
        ready >= n - plan.maxUnavailable,
        'MinimumReplicasAvailable',
        'MinimumReplicasUnavailable',
      ),
      deployCondition(
        d,
        'Progressing',
        true,
        freshReady >= n && old.length === 0 ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
        '',
      ),
    ],
  };
  await writeWorkloadStatus(cl, d, 'deployments', status);
}

/** A Deployment condition whose times move only when its status (transition) or reason (update) changes. */
function deployCondition(d: V1Deployment, type: string, ok: boolean, reasonTrue: string, reasonFalse: string) {
  const status = ok ? 'True' : 'False';
  const prev = d.status?.conditions?.find((c) => c.type === type);
  const reason = ok ? reasonTrue : reasonFalse;
  const same = prev?.status === status && prev.reason === reason;
  const now = isoSeconds(new Date());
  // The client returns times as Date objects; the API wants RFC 3339 seconds.
  const time = (t: Date | undefined) => (t ? isoSeconds(new Date(t)) : now);
  return {
    type,
    status,
    reason,
    message: '',
    lastUpdateTime: same ? time(prev?.lastUpdateTime) : now,
    lastTransitionTime: prev?.status === status ? time(prev?.lastTransitionTime) : now,
  };
}
