// The worker's ConfigMap: the IngestPipeline exactly as the worker must run it. The same loader reads it in
// the pod (api/load-pipeline.ts), so it stays a valid IngestPipeline: the user's spec, with the database
// address moved to the pipeline's PgBouncer and the flusher count the operator currently wants.

import { dump } from 'js-yaml';
import { WORKER_CONFIG_FILE } from '../../api/contract.ts';
import type { ResolvedPipeline } from '../../api/defaults.ts';
import { API_VERSION, type IngestPipeline, type IngestPipelineSpec, KIND } from '../../api/types.ts';
import { names, objectMeta } from './meta.ts';
import { workerPostgresViaPgBouncer } from './pgbouncer-tls.ts';

export const PGBOUNCER_PORT = 6432;

export interface WorkerConfigInput {
  /** Flushers per pod now: the spec's, or the autoscaler's. */
  flushers: number;
}

export function workerPipelineDocument(
  p: IngestPipeline,
  r: ResolvedPipeline,
  input: WorkerConfigInput,
): IngestPipeline {
  const spec = structuredClone(p.spec) as IngestPipelineSpec;
  if (r.sink.pgbouncer.enabled) {
    // TLS to PostgreSQL is PgBouncer's job; between worker and PgBouncer only with clientTlsSecretRef.
    spec.sink.postgres = workerPostgresViaPgBouncer(r, spec.sink.postgres, PGBOUNCER_PORT);
  }
  spec.flusher = { ...spec.flusher, flushers: input.flushers };
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: r.name, namespace: r.namespace },
    spec,
  };
}

export function renderWorkerConfig(p: IngestPipeline, r: ResolvedPipeline, input: WorkerConfigInput) {
  const doc = workerPipelineDocument(p, r, input);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMeta(p, names(r.name).workerConfig, 'worker'),
    data: {
      [WORKER_CONFIG_FILE]: `# Rendered by mqtt2pg-operator from IngestPipeline ${r.namespace}/${r.name}; edits are reverted.\n${dump(doc, { lineWidth: 120, noRefs: true })}`,
    },
  };
}

/**
 * Whether the worker applies a new flusher count without a restart (DESIGN: flusher changes apply live). It
 * does: the worker watches its own IngestPipeline and applies status.autoscaling.current.flushers, so with
 * autoscaling on the count stays out of the pod hash and the autoscaler never rolls the workers. With
 * autoscaling off the worker runs the count of its file (it ignores status), so there the count stays in the
 * hash: an edit of spec.flusher.flushers, or turning autoscaling off, rolls the pods onto the spec's count.
 */
export const FLUSHERS_APPLY_LIVE = true;

/**
 * The part of the worker configuration whose change needs a pod restart. Settings the worker does not act on
 * (pod count, autoscaling bounds, PgBouncer's own settings, the WAL volume's size and StorageClass) are left
 * out: scaling must not roll every pod; so is spec.paused, which workers apply live from their pipeline watch
 * (worker/pause.ts).
 */
export function workerConfigHashInput(p: IngestPipeline, r: ResolvedPipeline, flushers: number): unknown {
  const doc = workerPipelineDocument(p, r, { flushers });
  const { replicas: _r, autoscaling: _a, networkPolicy: _n, paused: _p, ...spec } = doc.spec;
  const { pgbouncer: _b, ...sink } = spec.sink;
  const { flushers: _f, ...flusherRest } = spec.flusher ?? {};
  const live = FLUSHERS_APPLY_LIVE && r.autoscaling.enabled;
  // The volume under the WAL is the StatefulSet's (operator/volume-resize.ts): growing it keeps the pods.
  const { size: _s, storageClassName: _c, ...storage } = spec.wal?.storage ?? {};
  const wal = spec.wal && { ...spec.wal, ...(spec.wal.storage ? { storage } : {}) };
  return { ...doc, spec: { ...spec, sink, wal, flusher: live ? flusherRest : spec.flusher }, flushersLive: live };
}
