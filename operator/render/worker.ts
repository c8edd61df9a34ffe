// The worker Deployment, or a StatefulSet with a PVC per pod when the WAL is persistent (a pod's WAL must
// outlive the pod, and come back under the same name, to be replayed).

import type { V1Container, V1PodSpec, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import {
  DEFAULT_SECRETS_DIR,
  ENV,
  HTTP_PATHS,
  WORKER_CONFIG_DIR,
  WORKER_CONFIG_FILE,
  WORKER_CONFIG_PATH,
  WORKER_PORTS,
  WORKER_WAL_DIR,
} from '../../api/contract.ts';
import { DEFAULT_IMAGE_PULL_POLICY, type ResolvedPipeline } from '../../api/defaults.ts';
import { workerSecretKeys } from '../../api/secret-refs.ts';
import { podGraceSeconds } from '../../api/shutdown.ts';
import type { IngestPipeline } from '../../api/types.ts';
import { CONFIG_HASH_ANNOTATION, names, objectMeta, quantity, selectorLabels, labels as stdLabels } from './meta.ts';
import { memoryEnv } from './worker-memory.ts';

/** Non-root user of the worker image; fsGroup makes the WAL volume and mounted Secrets readable to it. */
export const WORKER_UID = 65532;

/** From the worker's measured RSS (docs/benchmarks.md): under 256 MiB at full rate and with a backlog. */
export const DEFAULT_WORKER_RESOURCES = {
  requests: { cpu: '250m', memory: '256Mi' },
  limits: { memory: '512Mi' },
};

export interface WorkerInput {
  image: string;
  /** Worker pods now: the spec's, or the autoscaler's. */
  replicas: number;
  /** Hash of the restart-relevant config and the referenced Secrets' versions; a change rolls the pods. */
  configHash: string;
}

export const isPersistent = (r: ResolvedPipeline) => r.wal.storage.type === 'Persistent';

/** The volumeClaimTemplate's name: the StatefulSet names pod n's claim `wal-<pipeline>-worker-<n>`. */
export const WAL_CLAIM_TEMPLATE = 'wal';
export const walClaimName = (pipeline: string, ordinal: number) =>
  `${WAL_CLAIM_TEMPLATE}-${names(pipeline).worker}-${ordinal}`;

/** Where a worker (and a drain of its WAL) finds its pipeline, Secrets and WAL in its pod. */
export const WORKER_FILE_ARGS = [
  '-f',
  WORKER_CONFIG_PATH,
  '--secrets-dir',
  DEFAULT_SECRETS_DIR,
  '--wal-dir',
  WORKER_WAL_DIR,
];

/** Volume name of the i-th referenced Secret (Secret names may hold dots; volume names may not). */
const secretVolume = (i: number) => `secret-${i}`;

const healthGet = (path: string) => ({ path, port: WORKER_PORTS.health.name });

export function workerPodSpec(p: IngestPipeline, r: ResolvedPipeline, input: WorkerInput): V1PodSpec {
  // Only the keys the worker reads: a Secret that also holds other credentials exposes none of them.
  const secrets = [...workerSecretKeys(r)];
  const n = names(r.name);
  const mounts: V1VolumeMount[] = [
    { name: 'config', mountPath: WORKER_CONFIG_DIR, readOnly: true },
    { name: 'wal', mountPath: WORKER_WAL_DIR },
    { name: 'tmp', mountPath: '/tmp' },
    ...secrets.map(([s], i) => ({ name: secretVolume(i), mountPath: `${DEFAULT_SECRETS_DIR}/${s}`, readOnly: true })),
  ];
  const volumes: V1Volume[] = [
    // No subPath: a ConfigMap mounted as a directory follows updates, so flusher changes apply live.
    {
      name: 'config',
      configMap: { name: n.workerConfig, items: [{ key: WORKER_CONFIG_FILE, path: WORKER_CONFIG_FILE }] },
    },
    ...(isPersistent(r) ? [] : [{ name: 'wal', emptyDir: { sizeLimit: quantity(r.wal.storage.sizeBytes) } }]),
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
    ...secrets.map(([s, keys], i) => ({
      name: secretVolume(i),
      secret: { secretName: s, defaultMode: 0o440, items: keys.map((key) => ({ key, path: key })) },
    })),
  ];
  const container: V1Container = {
    name: 'worker',
    image: input.image,
    imagePullPolicy: p.spec.imagePullPolicy ?? DEFAULT_IMAGE_PULL_POLICY,
    command: ['mqtt2pg', 'worker', ...WORKER_FILE_ARGS],
    env: [
      { name: ENV.podName, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: ENV.podNamespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      // A Deployment pod's name, so its client id, is never reused: its session must end with it.
      ...(isPersistent(r) ? [] : [{ name: ENV.identity, value: 'ephemeral' }]),
      ...memoryEnv(p.spec.resources ?? DEFAULT_WORKER_RESOURCES),
    ],
    ports: [
      { name: WORKER_PORTS.metrics.name, containerPort: WORKER_PORTS.metrics.port, protocol: 'TCP' },
      { name: WORKER_PORTS.health.name, containerPort: WORKER_PORTS.health.port, protocol: 'TCP' },
    ],
    // WAL replay after a crash can take a while: the startup probe gives it 5 minutes before liveness counts.
    startupProbe: { httpGet: healthGet(HTTP_PATHS.healthz), periodSeconds: 5, failureThreshold: 60 },
    livenessProbe: { httpGet: healthGet(HTTP_PATHS.healthz), periodSeconds: 10, failureThreshold: 6 },
    readinessProbe: { httpGet: healthGet(HTTP_PATHS.readyz), periodSeconds: 5, failureThreshold: 3 },
    resources: (p.spec.resources ?? DEFAULT_WORKER_RESOURCES) as V1Container['resources'],
    securityContext: {
      runAsNonRoot: true,
      runAsUser: WORKER_UID,
      runAsGroup: WORKER_UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: mounts,
  };
  const pod = p.spec.pod ?? {};
  return {
    serviceAccountName: n.serviceAccount,
    // Time to drain the WAL into PostgreSQL after SIGTERM (delivery contract point 5), and for an Ephemeral
    // WAL, to spill what is left to the bucket before the emptyDir goes.
    terminationGracePeriodSeconds: podGraceSeconds(r),
    securityContext: {
      runAsNonRoot: true,
      fsGroup: WORKER_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: [container],
    volumes,
    ...(p.spec.imagePullSecrets ? { imagePullSecrets: p.spec.imagePullSecrets } : {}),
    ...(pod.nodeSelector ? { nodeSelector: pod.nodeSelector } : {}),
    ...(pod.tolerations ? { tolerations: pod.tolerations as V1PodSpec['tolerations'] } : {}),
    ...(pod.affinity ? { affinity: pod.affinity as V1PodSpec['affinity'] } : {}),
    ...(pod.priorityClassName ? { priorityClassName: pod.priorityClassName } : {}),
  };
}

export function renderWorker(p: IngestPipeline, r: ResolvedPipeline, input: WorkerInput) {
  const n = names(r.name);
  const selector = selectorLabels(r.name, 'worker');
  const template = {
    metadata: {
      labels: { ...(p.spec.pod?.labels ?? {}), ...stdLabels(r.name, 'worker') },
      annotations: {
        ...(p.spec.pod?.annotations ?? {}),
        [CONFIG_HASH_ANNOTATION]: input.configHash,
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(WORKER_PORTS.metrics.port),
        'prometheus.io/path': HTTP_PATHS.metrics,
      },
    },
    spec: workerPodSpec(p, r, input),
  };
  if (isPersistent(r)) {
    return {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: objectMeta(p, n.worker, 'worker'),
      spec: {
        replicas: input.replicas,
        serviceName: '',
        // Workers do not depend on each other: start and stop them all at once.
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: selector },
        updateStrategy: { type: 'RollingUpdate' },
        // A PVC may hold acknowledged messages not yet in PostgreSQL: never delete it on the operator's behalf.
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
        template,
        volumeClaimTemplates: [
          {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            metadata: { name: WAL_CLAIM_TEMPLATE, labels: stdLabels(r.name, 'worker') },
            spec: {
              accessModes: ['ReadWriteOnce'],
              resources: { requests: { storage: quantity(r.wal.storage.sizeBytes) } },
              ...(r.wal.storage.storageClassName ? { storageClassName: r.wal.storage.storageClassName } : {}),
            },
          },
        ],
      },
    };
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: objectMeta(p, n.worker, 'worker'),
    spec: {
      replicas: input.replicas,
      selector: { matchLabels: selector },
      // A new pod joins the shared subscription before an old one drains and leaves: no capacity dip.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template,
    },
  };
}
