// What the Deployment, StatefulSet and Job controllers write: pods stamped from a workload's template, pod
// deletions (graceful: the kubelet finishes them) and the workload's status.

import { createHash } from 'node:crypto';
import type { V1Deployment, V1Job, V1Pod, V1StatefulSet, V1Volume } from '@kubernetes/client-node';
import { type Cluster, codeOf, isNotFound, isoSeconds, MERGE_PATCH, NODE_NAME } from './context.ts';

/** Names a template's revision: the pod-template-hash / controller-revision-hash label of its pods. */
export const templateHash = (template: unknown) =>
  createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);

export type Workload = V1Deployment | V1StatefulSet;

/** A pod from the owner's template, with extra labels and volumes; one that exists already is no error. */
export async function createPod(
  cl: Cluster,
  owner: Workload | V1Job,
  kind: 'Deployment' | 'StatefulSet' | 'Job',
  name: string,
  labels: Record<string, string>,
  extraVolumes: V1Volume[] = [],
) {
  const t = owner.spec?.template;
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: cl.o.namespace,
      labels: { ...(t?.metadata?.labels ?? {}), ...labels },
      annotations: t?.metadata?.annotations ?? {},
      ownerReferences: [
        {
          apiVersion: kind === 'Job' ? 'batch/v1' : 'apps/v1',
          kind,
          name: owner.metadata?.name ?? '',
          uid: owner.metadata?.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      ...(t?.spec ?? { containers: [] }),
      // The scheduler's part: there is one node. A bound pod is deleted gracefully by the API server, so
      // this runner sees the deletion and stops the processes before the object goes.
      nodeName: NODE_NAME,
      volumes: [...(t?.spec?.volumes ?? []), ...extraVolumes],
      ...(kind === 'StatefulSet' ? { hostname: name } : {}),
    },
  };
  try {
    await cl.core.createNamespacedPod({ namespace: cl.o.namespace, body: pod });
    cl.log(`${kind} ${owner.metadata?.name}: created pod ${name}`);
  } catch (err) {
    if (codeOf(err) !== 409) throw err;
  }
  cl.kick();
}

export async function deletePod(cl: Cluster, p: V1Pod) {
  try {
    await cl.core.deleteNamespacedPod({ name: p.metadata?.name ?? '', namespace: cl.o.namespace });
    cl.log(`deleted pod ${p.metadata?.name}`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  cl.kick();
}

/** Patches the workload's status when a field differs from what the API server has (or one must go). */
export async function writeWorkloadStatus(
  cl: Cluster,
  w: Workload,
  plural: 'deployments' | 'statefulsets',
  status: Record<string, unknown>,
) {
  const cur = (w.status ?? {}) as Record<string, unknown>;
  const changed = Object.entries(status).some(([k, v]) => normalized(cur[k]) !== normalized(v));
  const dropped = ['unavailableReplicas'].filter((k) => cur[k] !== undefined && !(k in status));
  if (!changed && dropped.length === 0) return;
  // A merge patch removes a field only when it is sent as null.
  const body = { status: { ...status, ...Object.fromEntries(dropped.map((k) => [k, null])) } };
  const args = { name: w.metadata?.name ?? '', namespace: cl.o.namespace, body };
  try {
    if (plural === 'deployments') await cl.apps.patchNamespacedDeploymentStatus(args, MERGE_PATCH);
    else await cl.apps.patchNamespacedStatefulSetStatus(args, MERGE_PATCH);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** JSON with every timestamp at second precision, to compare what the client read with what we would write. */
export const normalized = (v: unknown) =>
  JSON.stringify(v, (_k, x) =>
    typeof x === 'string' && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(x) ? isoSeconds(new Date(x)) : x,
  );
