// The StatefulSet controller, Parallel pod management: pods <set>-0 … <set>-(n-1), each with a PVC per
// volumeClaimTemplate named <claim>-<pod>, created before the pod (volume-claims.ts; the claims outlive the pods
// and the set); RollingUpdate replaces one pod at a time, highest ordinal first, each once the pods above it are
// updated and ready. Each sync takes one step (planStatefulSet, pure) and writes the StatefulSet's status.

import type { V1Pod, V1StatefulSet, V1Volume } from '@kubernetes/client-node';
import { type Cluster, isActive, isNotFound, isReady, MERGE_PATCH, ownedBy } from './context.ts';
import { ensureClaims } from './volume-claims.ts';
import { createPod, deletePod, templateHash, writeWorkloadStatus } from './workloads.ts';

export interface SetPodView {
  name: string;
  /** Not being deleted. */
  active: boolean;
  ready: boolean;
  /** Its controller-revision-hash label. */
  revision: string;
}

/** The ordinal in a pod's name (<set>-<ordinal>); -1 for a name without one. */
const ordinal = (name: string) => Number(/-(\d+)$/.exec(name)?.[1] ?? -1);

/**
 * One step for the set's pods (terminating ones included): the ordinals that have no pod (created at once),
 * then the pods to delete: every active pod at or above `replicas`, and, when the update strategy replaces
 * pods, the highest-ordinal one on an old revision if every pod above it is updated, active and ready.
 */
export function planStatefulSet(o: {
  name: string;
  replicas: number;
  revision: string;
  onDelete: boolean;
  pods: SetPodView[];
}): { create: number[]; remove: string[] } {
  const names = new Set(o.pods.map((p) => p.name));
  const create: number[] = [];
  for (let i = 0; i < o.replicas; i++) if (!names.has(`${o.name}-${i}`)) create.push(i);
  const remove = o.pods.filter((p) => ordinal(p.name) >= o.replicas && p.active).map((p) => p.name);
  if (o.onDelete) return { create, remove };
  // The real controller's walk: from the highest ordinal down, delete the first old pod not already
  // terminating, but stop at a pod that is missing, terminating or not ready. An old pod is replaced even
  // when it is not ready itself (say, during a PostgreSQL outage); its replacement must be ready before
  // the next one goes.
  for (let i = o.replicas - 1; i >= 0; i--) {
    const p = o.pods.find((x) => x.name === `${o.name}-${i}`);
    if (!p) break;
    if (p.revision !== o.revision && p.active) {
      remove.push(p.name);
      break;
    }
    if (!p.active || !p.ready) break;
  }
  return { create, remove };
}

/** One sync of one StatefulSet against the namespace's pods: a step, then its status. */
export async function syncStatefulSet(cl: Cluster, s: V1StatefulSet, all: V1Pod[]) {
  // A set being deleted is left alone; the garbage collector deals with its pods (or orphans them).
  if (s.metadata?.deletionTimestamp) return;
  const name = s.metadata?.name ?? '';
  const n = s.spec?.replicas ?? 1;
  const revision = `${name}-${templateHash(s.spec?.template)}`;
  const revisionOf = (p: V1Pod) => p.metadata?.labels?.['controller-revision-hash'];
  const pods = [...all.filter((p) => ownedBy(p, s.metadata?.uid)), ...(await adoptOrphans(cl, s, all))];
  const plan = planStatefulSet({
    name,
    replicas: n,
    revision,
    onDelete: s.spec?.updateStrategy?.type === 'OnDelete',
    pods: pods.map((p) => ({
      name: p.metadata?.name ?? '',
      active: isActive(p),
      ready: isReady(p),
      revision: revisionOf(p) ?? '',
    })),
  });
  const claims = s.spec?.volumeClaimTemplates ?? [];
  for (const i of plan.create) {
    const podName = `${name}-${i}`;
    await ensureClaims(cl, s, podName);
    const volumes: V1Volume[] = claims.map((c) => ({
      name: c.metadata?.name ?? '',
      persistentVolumeClaim: { claimName: `${c.metadata?.name}-${podName}` },
    }));
    const labels = {
      'controller-revision-hash': revision,
      'statefulset.kubernetes.io/pod-name': podName,
      'apps.kubernetes.io/pod-index': String(i),
    };
    await createPod(cl, s, 'StatefulSet', podName, labels, volumes);
  }
  for (const podName of plan.remove) {
    const p = pods.find((x) => x.metadata?.name === podName);
    if (p) await deletePod(cl, p);
  }
  // The status describes the pods as this sync found them, before its own creations and deletions.
  const active = pods.filter((p) => ordinal(p.metadata?.name ?? '') < n && isActive(p));
  const updated = active.filter((p) => revisionOf(p) === revision);
  const ready = active.filter(isReady).length;
  const current = active.find((p) => revisionOf(p) !== revision);
  const status = {
    observedGeneration: s.metadata?.generation,
    replicas: active.length,
    readyReplicas: ready,
    availableReplicas: ready,
    updatedReplicas: updated.length,
    currentReplicas: current ? active.length - updated.length : updated.length,
    currentRevision: (current ? revisionOf(current) : undefined) ?? revision,
    updateRevision: revision,
  };
  await writeWorkloadStatus(cl, s, 'statefulsets', status);
}

/**
 * The controller's adoption: active pods of the set's names (<set>-<ordinal>) and selector without a controller
 * (a set deleted with the Orphan policy left them) become the set's. Same template, same revision label: kept.
 */
async function adoptOrphans(cl: Cluster, s: V1StatefulSet, all: V1Pod[]): Promise<V1Pod[]> {
  const name = s.metadata?.name ?? '';
  const selector = Object.entries(s.spec?.selector?.matchLabels ?? {});
  const orphans = all.filter(
    (p) =>
      isActive(p) &&
      new RegExp(`^${name}-\\d+$`).test(p.metadata?.name ?? '') &&
      !p.metadata?.ownerReferences?.some((o) => o.controller) &&
      selector.every(([k, v]) => p.metadata?.labels?.[k] === v),
  );
  const adopted: V1Pod[] = [];
  for (const p of orphans) {
    const ref = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      name,
      uid: s.metadata?.uid ?? '',
      controller: true,
      blockOwnerDeletion: true,
    };
    const ownerReferences = [...(p.metadata?.ownerReferences ?? []), ref];
    try {
      const body = { metadata: { ownerReferences, resourceVersion: p.metadata?.resourceVersion } };
      adopted.push(
        await cl.core.patchNamespacedPod(
          { name: p.metadata?.name ?? '', namespace: cl.o.namespace, body },
          MERGE_PATCH,
        ),
      );
      cl.log(`StatefulSet ${name}: adopted pod ${p.metadata?.name}`);
    } catch (err) {
      // Gone, or changed since the list (409): the next sync looks again.
      if (!isNotFound(err) && (err as { code?: number }).code !== 409) throw err;
    }
  }
  return adopted;
}
