// The disruption controller, for this project's PodDisruptionBudgets: it writes the status the API server's
// Eviction subresource reads (observedGeneration, currentHealthy, desiredHealthy, disruptionsAllowed,
// disruptedPods). Without it an eviction of a pod a budget covers is refused for ever ("the disruption budget
// is still being processed"), as on a cluster whose kube-controller-manager is down. The Eviction API itself
// is the API server's: it checks the budget, records the pod in disruptedPods and deletes the pod, so the
// kubelet only sees a graceful deletion.

import type { V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { type Cluster, codeOf, isActive, isNotFound, isoSeconds, isReady, SELECTOR } from './context.ts';
import type { Workload } from './workloads.ts';

/** How long an evicted pod counts as disrupted before the controller stops waiting for its deletion. */
const DELETION_TIMEOUT_MS = 2 * 60_000;

export interface BudgetPodView {
  name: string;
  active: boolean;
  ready: boolean;
  /** uid of its controlling workload, if any. */
  controller?: string;
}

export interface BudgetStatus {
  observedGeneration: number;
  expectedPods: number;
  desiredHealthy: number;
  currentHealthy: number;
  disruptionsAllowed: number;
  disruptedPods: Record<string, Date>;
}

/** An int-or-percent against `total`, rounded up as the disruption controller rounds. */
function scaled(v: number | string, total: number): number {
  if (typeof v === 'number') return v;
  return Math.ceil((Number(v.replace('%', '')) * total) / 100);
}

/**
 * The status a budget gets for its pods (every pod its selector matches, terminating ones included):
 * expected pods from the pods' controllers' replicas (or the pod count for an integer minAvailable), healthy
 * pods = ready, not terminating and not just evicted; allowed disruptions = healthy - desired, at least 0.
 */
export function budgetStatus(o: {
  spec: { minAvailable?: number | string; maxUnavailable?: number | string };
  generation: number;
  pods: BudgetPodView[];
  /** spec.replicas of each controlling workload, by uid. */
  replicasOf: Map<string, number>;
  /** What the API server's Eviction handler recorded: pod name → time of eviction. */
  disruptedPods: Record<string, Date | string>;
  now: Date;
}): BudgetStatus {
  const controllers = new Set(o.pods.flatMap((p) => (p.controller ? [p.controller] : [])));
  const fromControllers = [...controllers].reduce((n, uid) => n + (o.replicasOf.get(uid) ?? 0), 0);
  let expectedPods: number;
  let desiredHealthy: number;
  if (o.spec.maxUnavailable !== undefined) {
    expectedPods = fromControllers;
    desiredHealthy = Math.max(0, expectedPods - scaled(o.spec.maxUnavailable, expectedPods));
  } else if (typeof o.spec.minAvailable === 'number') {
    expectedPods = o.pods.length;
    desiredHealthy = o.spec.minAvailable;
  } else {
    expectedPods = fromControllers;
    desiredHealthy = scaled(o.spec.minAvailable ?? 0, expectedPods);
  }
  // An evicted pod stays "disrupted" until it is seen terminating (or gone), or the timeout passes.
  const disruptedPods: Record<string, Date> = {};
  for (const [name, at] of Object.entries(o.disruptedPods)) {
    const pod = o.pods.find((p) => p.name === name);
    const time = new Date(at);
    if (pod?.active && time.getTime() + DELETION_TIMEOUT_MS > o.now.getTime()) disruptedPods[name] = time;
  }
  const currentHealthy = o.pods.filter((p) => p.active && p.ready && !(p.name in disruptedPods)).length;
  return {
    observedGeneration: o.generation,
    expectedPods,
    desiredHealthy,
    currentHealthy,
    disruptionsAllowed: Math.max(0, currentHealthy - desiredHealthy),
    disruptedPods,
  };
}

const matches = (p: V1Pod, labels: Record<string, string>) =>
  Object.entries(labels).every(([k, v]) => p.metadata?.labels?.[k] === v);

/** One sync of every budget of the project in the namespace against its pods and workloads. */
export async function syncDisruptionBudgets(cl: Cluster, pods: V1Pod[], workloads: Workload[]) {
  const budgets = (
    await cl.policy.listNamespacedPodDisruptionBudget({ namespace: cl.o.namespace, labelSelector: SELECTOR })
  ).items;
  const replicasOf = new Map(workloads.map((w) => [w.metadata?.uid ?? '', w.spec?.replicas ?? 1]));
  for (const b of budgets) await syncBudget(cl, b, pods, replicasOf);
}

async function syncBudget(cl: Cluster, b: V1PodDisruptionBudget, all: V1Pod[], replicasOf: Map<string, number>) {
  const selector = b.spec?.selector;
  if (selector?.matchExpressions?.length) {
    cl.log(`PodDisruptionBudget ${b.metadata?.name}: matchExpressions are not supported here; status left alone`);
    return;
  }
  const pods = all.filter((p) => matches(p, selector?.matchLabels ?? {}));
  const s = budgetStatus({
    spec: {
      ...(b.spec?.minAvailable !== undefined ? { minAvailable: b.spec.minAvailable } : {}),
      ...(b.spec?.maxUnavailable !== undefined ? { maxUnavailable: b.spec.maxUnavailable } : {}),
    },
    generation: b.metadata?.generation ?? 0,
    pods: pods.map((p) => ({
      name: p.metadata?.name ?? '',
      active: isActive(p),
      ready: isReady(p),
      controller: p.metadata?.ownerReferences?.find((r) => r.controller)?.uid,
    })),
    replicasOf,
    disruptedPods: (b.status?.disruptedPods ?? {}) as Record<string, Date>,
    now: new Date(),
  });
  const prev = b.status;
  const seconds = (m: Record<string, Date> | undefined) =>
    JSON.stringify(Object.entries(m ?? {}).map(([k, v]) => [k, isoSeconds(new Date(v))]));
  const same =
    prev?.observedGeneration === s.observedGeneration &&
    prev.expectedPods === s.expectedPods &&
    prev.desiredHealthy === s.desiredHealthy &&
    prev.currentHealthy === s.currentHealthy &&
    prev.disruptionsAllowed === s.disruptionsAllowed &&
    seconds(prev.disruptedPods) === seconds(s.disruptedPods);
  if (same) return;
  const allowed = s.disruptionsAllowed > 0;
  const was = prev?.conditions?.find((c) => c.type === 'DisruptionAllowed');
  const status = allowed ? 'True' : 'False';
  const condition = {
    type: 'DisruptionAllowed',
    status,
    reason: allowed ? 'SufficientPods' : 'InsufficientPods',
    message: '',
    observedGeneration: s.observedGeneration,
    lastTransitionTime: was?.status === status && was.lastTransitionTime ? was.lastTransitionTime : new Date(),
  };
  // A replace with the resourceVersion read: an eviction recorded since then wins, and the next sync retries.
  try {
    await cl.policy.replaceNamespacedPodDisruptionBudgetStatus({
      name: b.metadata?.name ?? '',
      namespace: cl.o.namespace,
      body: { ...b, status: { ...s, conditions: [condition] } },
    });
  } catch (err) {
    if (codeOf(err) === 409) cl.kick();
    else if (!isNotFound(err)) throw err;
  }
}
