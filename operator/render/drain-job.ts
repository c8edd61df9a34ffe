// The Job that drains the WAL volume of a worker ordinal that no longer runs (scaled down, or the pipeline
// deleted): the worker's own pod, mounts and security context, with `mqtt2pg drain` instead of the worker and
// the ordinal's PVC as its WAL. The operator deletes the volume only after such a Job succeeded
// (operator/wal-drain.ts decides, operator/wal-drainer.ts acts).

import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import type { ResolvedPipeline } from '../../api/defaults.ts';
import type { IngestPipeline } from '../../api/types.ts';
import { labels, names, objectMeta } from './meta.ts';
import { WAL_CLAIM_TEMPLATE, WORKER_FILE_ARGS, walClaimName, workerPodSpec } from './worker.ts';

/** Where the drain writes its JSON report; the operator reads it from the pod's terminated state. */
export const TERMINATION_LOG = '/dev/termination-log';
/** Labels of a drain Job (and its pods): which claim and ordinal it drains. */
export const DRAIN_CLAIM_LABEL = 'mqtt2pg.io/wal-claim';
export const DRAIN_ORDINAL_LABEL = 'mqtt2pg.io/worker-ordinal';
/**
 * Pods a Job tries before it fails (the Job controller waits 10 s, 20 s ... 6 min between them); a failed Job
 * is replaced by the operator, so a long database outage means attempts for as long as it lasts.
 */
export const DRAIN_BACKOFF_LIMIT = 6;
/** An attempt gives up (and reports what is left) when nothing could be flushed for this long. */
export const DRAIN_JOB_TIMEOUT = '1m';

export interface DrainJobInput {
  image: string;
  ordinal: number;
  /** `mqtt2pg drain --timeout`: how long one attempt waits for PostgreSQL before it reports and retries. */
  timeout?: string;
}

export function renderDrainJob(p: IngestPipeline, r: ResolvedPipeline, input: DrainJobInput) {
  const n = names(r.name);
  const claim = walClaimName(r.name, input.ordinal);
  const worker = workerPodSpec(p, r, { image: input.image, replicas: 0, configHash: '' });
  const w = worker.containers[0] as V1Container;
  const container: V1Container = {
    name: 'drain',
    image: w.image ?? input.image,
    ...(w.imagePullPolicy ? { imagePullPolicy: w.imagePullPolicy } : {}),
    command: [
      'mqtt2pg',
      'drain',
      ...WORKER_FILE_ARGS,
      '--timeout',
      input.timeout ?? DRAIN_JOB_TIMEOUT,
      // A worker that never started leaves a volume without a WAL: nothing to drain.
      '--empty-ok',
      '--termination-log',
      TERMINATION_LOG,
    ],
    terminationMessagePath: TERMINATION_LOG,
    terminationMessagePolicy: 'File',
    ...(w.resources ? { resources: w.resources } : {}),
    ...(w.securityContext ? { securityContext: w.securityContext } : {}),
    ...(w.volumeMounts ? { volumeMounts: w.volumeMounts } : {}),
  };
  const podLabels: Record<string, string> = {
    ...labels(r.name, 'drain'),
    [DRAIN_CLAIM_LABEL]: claim,
    [DRAIN_ORDINAL_LABEL]: String(input.ordinal),
  };
  const spec: V1PodSpec = {
    ...worker,
    // The drain talks to PostgreSQL and S3 only, never to the API server.
    automountServiceAccountToken: false,
    restartPolicy: 'Never',
    containers: [container],
    volumes: [
      ...(worker.volumes ?? []).filter((v) => v.name !== WAL_CLAIM_TEMPLATE),
      { name: WAL_CLAIM_TEMPLATE, persistentVolumeClaim: { claimName: claim } },
    ],
  };
  const meta = objectMeta(p, n.drainJob(input.ordinal), 'drain');
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      ...meta,
      labels: { ...meta.labels, [DRAIN_CLAIM_LABEL]: claim, [DRAIN_ORDINAL_LABEL]: String(input.ordinal) },
    },
    spec: {
      backoffLimit: DRAIN_BACKOFF_LIMIT,
      template: { metadata: { labels: podLabels }, spec },
    },
  };
}
