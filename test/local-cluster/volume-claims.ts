// PersistentVolumeClaims as a cluster has them: the StatefulSet controller creates one per volumeClaimTemplate
// and ordinal before the pod (labels: the template's and the set's selector; no owner with the Retain policy,
// so they outlive scale-down and the set), a provisioner binds each at once with the capacity it requests and
// grows that capacity when the request grows (the API server allows that only for a bound claim whose
// StorageClass allows expansion), and the PVC protection controller lets a deleted claim go only
// once no running pod mounts it. The volume is a directory, <dir>/pvcs/<ns>/<claim> (volumes.ts); it is
// removed with its claim, as a dynamically provisioned volume (reclaim policy Delete) is.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { type Cluster, codeOf, isNotFound, MERGE_PATCH } from './context.ts';

export const PVC_PROTECTION = 'kubernetes.io/pvc-protection';

/** The claims of pod `podName` of the set: created when missing (one that exists already is kept as it is). */
export async function ensureClaims(cl: Cluster, s: V1StatefulSet, podName: string) {
  for (const t of s.spec?.volumeClaimTemplates ?? []) {
    const name = `${t.metadata?.name}-${podName}`;
    const claim: V1PersistentVolumeClaim = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name,
        namespace: cl.o.namespace,
        labels: { ...(t.metadata?.labels ?? {}), ...(s.spec?.selector?.matchLabels ?? {}) },
      },
      spec: t.spec ?? {},
    };
    try {
      await cl.core.createNamespacedPersistentVolumeClaim({ namespace: cl.o.namespace, body: claim });
      cl.log(`StatefulSet ${s.metadata?.name}: created PersistentVolumeClaim ${name}`);
    } catch (err) {
      if (codeOf(err) !== 409) throw err;
    }
  }
}

/** Names of the claims a pod that has not finished mounts. */
export function claimsInUse(pods: V1Pod[]): Set<string> {
  const out = new Set<string>();
  for (const p of pods) {
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    for (const v of p.spec?.volumes ?? []) if (v.persistentVolumeClaim) out.add(v.persistentVolumeClaim.claimName);
  }
  return out;
}

/** The provisioner's and the volume expander's part: Bound, with the capacity the claim requests. */
async function provision(cl: Cluster, c: V1PersistentVolumeClaim) {
  const want = c.spec?.resources?.requests?.storage;
  if (c.status?.phase === 'Bound' && c.status.capacity?.storage === want) return;
  const body = { status: { phase: 'Bound', accessModes: c.spec?.accessModes, capacity: { storage: want } } };
  try {
    await cl.core.patchNamespacedPersistentVolumeClaimStatus(
      { name: c.metadata?.name ?? '', namespace: cl.o.namespace, body },
      MERGE_PATCH,
    );
    cl.log(`PersistentVolumeClaim ${c.metadata?.name}: bound, ${want}`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** The PVC protection controller's part: a deleted claim no running pod mounts loses its finalizer, and its volume. */
export async function releaseClaims(cl: Cluster, pods: V1Pod[]) {
  const inUse = claimsInUse(pods);
  const claims = (await cl.core.listNamespacedPersistentVolumeClaim({ namespace: cl.o.namespace })).items;
  for (const c of claims) {
    const name = c.metadata?.name ?? '';
    if (!c.metadata?.deletionTimestamp) {
      await provision(cl, c);
      continue;
    }
    if (inUse.has(name)) continue;
    const rest = (c.metadata.finalizers ?? []).filter((f) => f !== PVC_PROTECTION);
    rmSync(join(cl.o.dir, 'pvcs', cl.o.namespace, name), { recursive: true, force: true });
    if (rest.length === (c.metadata.finalizers ?? []).length) continue;
    try {
      await cl.core.patchNamespacedPersistentVolumeClaim(
        { name, namespace: cl.o.namespace, body: { metadata: { finalizers: rest.length ? rest : null } } },
        MERGE_PATCH,
      );
      cl.log(`PersistentVolumeClaim ${name}: no pod mounts it; released`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
