// The three sizes a pipeline runs at (worker pods, flushers per pod, PgBouncer pool) and their bounds: the
// one clamp the loader, the operator, the autoscaler and the worker all use.

import type { ResolvedPipeline } from './defaults.ts';
import type { IngestPipeline } from './types.ts';

export interface Sizes {
  replicas: number;
  flushers: number;
  poolSize: number;
}

export interface Bounds {
  min: number;
  max: number;
}

export type SizeBounds = Record<keyof Sizes, Bounds>;

export const clamp = (v: number, b: Bounds) => Math.min(b.max, Math.max(b.min, v));

/** A count someone else wrote (status, an API object), clamped into bounds; undefined when it is not a count. */
export function clampCount(v: unknown, b: Bounds): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? clamp(v, b) : undefined;
}

export function sizeBounds(r: ResolvedPipeline): SizeBounds {
  return {
    replicas: { min: r.autoscaling.minReplicas, max: r.autoscaling.maxReplicas },
    flushers: { min: r.flusher.minFlushers, max: r.flusher.maxFlushers },
    poolSize: { min: r.autoscaling.minPoolSize, max: r.autoscaling.maxPoolSize },
  };
}

export function clampSizes(s: Sizes, b: SizeBounds): Sizes {
  return {
    replicas: clamp(s.replicas, b.replicas),
    flushers: clamp(s.flushers, b.flushers),
    poolSize: clamp(s.poolSize, b.poolSize),
  };
}

/**
 * Sizes in effect: the spec's, unless the autoscaler (autoscaling.enabled) owns them: then what it recorded in
 * status.autoscaling.current, else the spec's, always within the spec's bounds (a spec.replicas set by
 * `kubectl scale` or an HPA beyond autoscaling.maxReplicas never runs more pods than the bounds allow).
 */
export function effectiveSizes(p: Pick<IngestPipeline, 'status'>, r: ResolvedPipeline): Sizes {
  const spec = { replicas: r.replicas, flushers: r.flusher.flushers, poolSize: r.sink.pgbouncer.poolSize };
  if (!r.autoscaling.enabled) return spec;
  const cur = p.status?.autoscaling?.current;
  const b = sizeBounds(r);
  return {
    replicas: clampCount(cur?.replicas, b.replicas) ?? clamp(spec.replicas, b.replicas),
    flushers: clampCount(cur?.flushers, b.flushers) ?? clamp(spec.flushers, b.flushers),
    poolSize: clampCount(cur?.poolSize, b.poolSize) ?? clamp(spec.poolSize, b.poolSize),
  };
}
