// The operator's own RBAC and Deployment as objects, from the same list of kinds the operator manages, so
// its permissions stay exactly what the code uses. The Helm chart and manifests/install are generated from
// these rules (scripts/packaging/generate.ts; `make lint` fails on drift); test/integration/operator/rbac.test.ts runs the
// operator under exactly them.

import { ENV, HTTP_PATHS, OPERATOR_PORT } from '../api/contract.ts';
import { GROUP, PLURAL } from '../api/types.ts';
import { CHILD_KINDS, JOBS, PVCS, STORAGE_CLASSES } from './kinds.ts';
import { DEFAULT_WORKER_IMAGE, OPERATOR_VERSION } from './render/meta.ts';

/**
 * The operator's V8 heap, measured with 1,000 pipelines (bench/operator-scale.ts, docs/benchmarks.md): a
 * small young generation (the cold start allocates fast and little of it lives; 2 MiB quadrupled the CPU)
 * and an old generation about three times what its caches hold at that scale (at 128 MiB it thrashed). RSS
 * 176 MiB at 1,000 pipelines instead of 272. The chart sets it (values.yaml operator.nodeOptions;
 * operator/node-options.test.ts keeps the two equal); more pipelines need a larger old generation.
 */
export const OPERATOR_NODE_OPTIONS = '--max-semi-space-size=4 --max-old-space-size=160';
/** glibc's arenas for the operator's threads: 2 instead of up to 8 per core, ~15 MiB less RSS at 1,000 pipelines. */
export const OPERATOR_MALLOC_ARENA_MAX = '2';

export const OPERATOR_NAMESPACE = 'mqtt2pg-system';
export const OPERATOR_NAME = 'mqtt2pg-operator';

const labels = {
  'app.kubernetes.io/name': 'mqtt2pg',
  'app.kubernetes.io/component': 'operator',
  'app.kubernetes.io/version': OPERATOR_VERSION,
};

// get: before creating a child, whether an object of its name exists that the operator does not own (the
// caches hold only its own, labelled objects); list already reads the same data.
const CHILD_VERBS = ['get', 'list', 'watch', 'create', 'patch', 'delete'];

/**
 * Every rule the operator needs: in a ClusterRole (cluster-wide mode) or in a Role of each watched namespace
 * (namespaced mode). No rule names a cluster-scoped resource, so a namespaced install grants nothing outside
 * the watched namespaces (and the Lease in its own). docs/install-modes.md lists each verb and why.
 */
export function operatorRules() {
  const byGroup = new Map<string, string[]>();
  for (const t of Object.values(CHILD_KINDS)) {
    if (t.plural === 'secrets') continue;
    byGroup.set(t.group, [...(byGroup.get(t.group) ?? []), t.plural]);
  }
  return [
    // list/watch: the informer; patch: the drain finalizer (metadata only; the operator never writes spec);
    // get: the workers' Role grants get/list/watch on their own pipeline, and RBAC lets the operator grant
    // only what it holds itself.
    { apiGroups: [GROUP], resources: [PLURAL], verbs: ['get', 'list', 'watch', 'patch'] },
    { apiGroups: [GROUP], resources: [`${PLURAL}/status`], verbs: ['patch'] },
    ...[...byGroup.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([group, resources]) => ({ apiGroups: [group], resources: resources.sort(), verbs: CHILD_VERBS })),
    // get: the referenced Secrets' data (PgBouncer auth, the pod hash); list/watch: metadata only, to notice
    // rotations; create/patch/delete: the PgBouncer auth Secret it derives.
    { apiGroups: [''], resources: ['secrets'], verbs: CHILD_VERBS },
    // patch as well: the workers' Role grants create/patch on events, and RBAC lets the operator grant only
    // what it holds itself.
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    // The autoscaler finds the worker pods to scrape and the PgBouncer pods to set the pool size on; the WAL
    // drain reads its Jobs' pods for the report they leave in their termination message.
    { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
    // The WAL volumes of removed workers: found by their labels, deleted once a drain Job emptied them;
    // patch: grown when wal.storage.size grows, get on StorageClasses: whether they allow it.
    { apiGroups: [PVCS.group], resources: [PVCS.plural], verbs: ['list', 'watch', 'patch', 'delete'] },
    { apiGroups: [STORAGE_CLASSES.group], resources: [STORAGE_CLASSES.plural], verbs: ['get'] },
    { apiGroups: [JOBS.group], resources: [JOBS.plural], verbs: ['list', 'watch', 'create', 'delete'] },
  ];
}

export interface InstallOptions {
  /** Namespaced mode: a Role and RoleBinding in each of these instead of the ClusterRole and its binding. */
  watchNamespaces?: string[];
}

export function operatorManifests(o: InstallOptions = {}): Record<string, unknown[]> {
  const watch = o.watchNamespaces ?? [];
  const meta = (name: string, namespaced = true) => ({
    name,
    ...(namespaced ? { namespace: OPERATOR_NAMESPACE } : {}),
    labels,
  });
  const rbac = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(OPERATOR_NAME) },
    ...(watch.length > 0 ? namespacedRbac(watch, meta(OPERATOR_NAME)) : clusterRbac(meta(OPERATOR_NAME, false))),
    // Leader election only ever touches the one Lease, in the operator's own namespace.
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(`${OPERATOR_NAME}-leader-election`),
      rules: [
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: [OPERATOR_NAME],
          verbs: ['get', 'update'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(`${OPERATOR_NAME}-leader-election`),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${OPERATOR_NAME}-leader-election` },
      subjects: [{ kind: 'ServiceAccount', name: OPERATOR_NAME, namespace: OPERATOR_NAMESPACE }],
    },
  ];
  const selector = { 'app.kubernetes.io/name': 'mqtt2pg', 'app.kubernetes.io/component': 'operator' };
  const deployment = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OPERATOR_NAMESPACE, labels } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(OPERATOR_NAME),
      spec: {
        // Two replicas: one leads, the other takes over within the lease duration if its node dies.
        replicas: 2,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels: { ...labels, ...selector } },
          spec: {
            serviceAccountName: OPERATOR_NAME,
            securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'operator',
                image: DEFAULT_WORKER_IMAGE,
                command: ['mqtt2pg', 'operator'],
                args: ['--listen', `:${OPERATOR_PORT.port}`],
                env: [
                  { name: ENV.podNamespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  // Namespaced mode: a comma-separated list, each with the operator's Role (docs/install-modes.md).
                  { name: ENV.watchNamespace, value: watch.join(',') },
                  { name: 'NODE_OPTIONS', value: OPERATOR_NODE_OPTIONS },
                  { name: 'MALLOC_ARENA_MAX', value: OPERATOR_MALLOC_ARENA_MAX },
                ],
                ports: [{ name: OPERATOR_PORT.name, containerPort: OPERATOR_PORT.port }],
                livenessProbe: { httpGet: { path: HTTP_PATHS.healthz, port: OPERATOR_PORT.name }, periodSeconds: 10 },
                readinessProbe: { httpGet: { path: HTTP_PATHS.readyz, port: OPERATOR_PORT.name }, periodSeconds: 5 },
                resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: 65532,
                  readOnlyRootFilesystem: true,
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ['ALL'] },
                },
              },
            ],
            terminationGracePeriodSeconds: 30,
          },
        },
      },
    },
  ];
  return { 'rbac.yaml': rbac, 'deployment.yaml': deployment };
}

const subject = { kind: 'ServiceAccount', name: OPERATOR_NAME, namespace: OPERATOR_NAMESPACE };
type Meta = { name: string; labels: Record<string, string> };

/** Cluster-wide mode: every namespace, so every rule in a ClusterRole bound cluster-wide. */
function clusterRbac(meta: Meta) {
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta, rules: operatorRules() },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: meta.name },
      subjects: [subject],
    },
  ];
}

/** Namespaced mode: the same rules as a Role of each watched namespace; no cluster-scoped object at all. */
function namespacedRbac(namespaces: string[], meta: Meta) {
  return namespaces.flatMap((namespace) => [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: meta.name, namespace, labels: meta.labels },
      rules: operatorRules(),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: meta.name, namespace, labels: meta.labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: meta.name },
      subjects: [subject],
    },
  ]);
}
