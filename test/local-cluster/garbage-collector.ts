// The garbage collector, for this project's objects in the runner's namespace: an object whose every owner
// is gone (absent, or present under another uid) is deleted with background propagation, so deleting an
// IngestPipeline takes its Deployment, the Deployment its pods, and so on down, as in a real cluster. A
// workload deleted with the Orphan policy (the "orphan" finalizer) first loses its pods' owner references,
// then the finalizer, so its pods stay.

import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { type Cluster, isNotFound, MERGE_PATCH, SELECTOR } from './context.ts';
import type { Workload } from './workloads.ts';

const ORPHAN_FINALIZER = 'orphan';

/** Workloads deleted with the Orphan policy: their pods drop the owner reference, then the finalizer goes. */
export async function orphanDependents(
  cl: Cluster,
  kind: 'Deployment' | 'StatefulSet',
  workloads: Workload[],
  pods: V1Pod[],
): Promise<void> {
  const ns = cl.o.namespace;
  for (const w of workloads) {
    const uid = w.metadata?.uid;
    if (!w.metadata?.deletionTimestamp || !w.metadata.finalizers?.includes(ORPHAN_FINALIZER)) continue;
    for (const p of pods.filter((x) => x.metadata?.ownerReferences?.some((r) => r.uid === uid))) {
      const rest = (p.metadata?.ownerReferences ?? []).filter((r) => r.uid !== uid);
      const body = { metadata: { ownerReferences: rest.length > 0 ? rest : null } };
      await cl.core
        .patchNamespacedPod({ name: p.metadata?.name ?? '', namespace: ns, body }, MERGE_PATCH)
        .catch((err) => {
          if (!isNotFound(err)) throw err;
        });
      cl.log(`garbage collector: orphaned pod ${p.metadata?.name} of ${kind} ${w.metadata.name}`);
    }
    const finalizers = w.metadata.finalizers.filter((f) => f !== ORPHAN_FINALIZER);
    const args = {
      name: w.metadata.name ?? '',
      namespace: ns,
      body: { metadata: { finalizers: finalizers.length > 0 ? finalizers : null } },
    };
    await (kind === 'Deployment'
      ? cl.apps.patchNamespacedDeployment(args, MERGE_PATCH)
      : cl.apps.patchNamespacedStatefulSet(args, MERGE_PATCH)
    ).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
  }
}

/** The kinds the operator creates (and the pods the controllers create). */
const KINDS: Array<[apiVersion: string, kind: string]> = [
  ['v1', 'Pod'],
  ['v1', 'ConfigMap'],
  ['v1', 'Secret'],
  ['v1', 'Service'],
  ['v1', 'ServiceAccount'],
  ['apps/v1', 'Deployment'],
  ['apps/v1', 'StatefulSet'],
  ['batch/v1', 'Job'],
  ['rbac.authorization.k8s.io/v1', 'Role'],
  ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
  ['policy/v1', 'PodDisruptionBudget'],
  ['networking.k8s.io/v1', 'NetworkPolicy'],
];

/**
 * One pass over every kind. `deleted` is called after each deletion: the deleted object's own dependents
 * still name an owner that is only now going away, so another pass is due.
 */
export async function collectGarbage(cl: Cluster, deleted: () => void): Promise<void> {
  const ns = cl.o.namespace;
  // One read per owner per pass, however many dependents name it.
  const owners = new Map<string, Promise<boolean>>();
  const ownerExists = (ref: { apiVersion: string; kind: string; name: string; uid: string }) => {
    const key = `${ref.apiVersion}/${ref.kind}/${ref.name}/${ref.uid}`;
    let p = owners.get(key);
    if (!p) {
      p = cl.objects
        .read({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ns } })
        .then((o) => o.metadata?.uid === ref.uid)
        .catch((err) => {
          if (isNotFound(err)) return false;
          throw err;
        });
      owners.set(key, p);
    }
    return p;
  };
  for (const [apiVersion, kind] of KINDS) {
    const list = await cl.objects.list<KubernetesObject>(
      apiVersion,
      kind,
      ns,
      undefined,
      undefined,
      undefined,
      undefined,
      SELECTOR,
    );
    for (const o of list.items) {
      const refs = o.metadata?.ownerReferences ?? [];
      if (refs.length === 0 || o.metadata?.deletionTimestamp) continue;
      const alive = await Promise.all(refs.map(ownerExists));
      if (alive.some(Boolean)) continue;
      cl.log(
        `garbage collector: deleting ${kind} ${o.metadata?.name} (owner ${refs[0]?.kind} ${refs[0]?.name} is gone)`,
      );
      await cl.objects
        .delete(
          { apiVersion, kind, metadata: { name: o.metadata?.name ?? '', namespace: ns } },
          undefined,
          undefined,
          undefined,
          undefined,
          'Background',
        )
        .catch((err) => {
          if (!isNotFound(err)) throw err;
        });
      deleted();
    }
  }
}
