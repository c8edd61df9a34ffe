// The resource types the operator reads and writes. The operator's ClusterRole (operator/manifests.ts) is generated from
// this list (operator/manifests.ts), so the operator's permissions are exactly what it uses.

import { GROUP, KIND, PLURAL, VERSION } from '../api/types.ts';
import type { ResourceType } from './runtime/kube.ts';

export const PIPELINES: ResourceType = { group: GROUP, version: VERSION, plural: PLURAL, kind: KIND, namespaced: true };
export const SECRETS: ResourceType = { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true };
export const EVENTS: ResourceType = { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true };
export const LEASES: ResourceType = {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  kind: 'Lease',
  namespaced: true,
};

/** Read only, by the autoscaler: the worker pods to scrape and the PgBouncer pods to set the pool size on. */
export const PODS: ResourceType = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };

/**
 * The drain Jobs of removed workers' WAL volumes, and those volumes (operator/wal-drainer.ts). Not children the
 * render produces: the apply/prune loop never touches them, and the operator only creates, reads and deletes.
 */
export const JOBS: ResourceType = { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true };
export const PVCS: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'persistentvolumeclaims',
  kind: 'PersistentVolumeClaim',
  namespaced: true,
};

/** Read only: whether the WAL volumes' StorageClass allows expansion (operator/volume-resizer.ts). */
export const STORAGE_CLASSES: ResourceType = {
  group: 'storage.k8s.io',
  version: 'v1',
  plural: 'storageclasses',
  kind: 'StorageClass',
  namespaced: false,
};

/** Every kind a pipeline may own, keyed by kind. */
export const CHILD_KINDS: Record<string, ResourceType> = {
  ServiceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  Role: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', kind: 'Role', namespaced: true },
  RoleBinding: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: 'rolebindings',
    kind: 'RoleBinding',
    namespaced: true,
  },
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  Secret: SECRETS,
  Service: { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  Deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  StatefulSet: { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', namespaced: true },
  PodDisruptionBudget: {
    group: 'policy',
    version: 'v1',
    plural: 'poddisruptionbudgets',
    kind: 'PodDisruptionBudget',
    namespaced: true,
  },
  NetworkPolicy: {
    group: 'networking.k8s.io',
    version: 'v1',
    plural: 'networkpolicies',
    kind: 'NetworkPolicy',
    namespaced: true,
  },
};

export function childKind(kind: string): ResourceType {
  const t = CHILD_KINDS[kind];
  if (!t) throw new Error(`internal: ${kind} is not a kind the operator manages; add it to operator/kinds.ts`);
  return t;
}
