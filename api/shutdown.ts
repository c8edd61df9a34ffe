// How a worker's shutdown time is split, once for both sides: the operator renders the pod's grace period
// from it, the worker derives its drain and spill budgets from it. A worker whose WAL goes with its pod
// (Ephemeral) and that has a bucket spills what it could not drain (worker/spill.ts); it gets the time to
// upload a full WAL on top of the drain time the spec asks for.

import type { ResolvedPipeline } from './defaults.ts';

/**
 * WAL bytes per second a spill is budgeted at, conservative for a pod writing to an S3 bucket: the spill
 * compresses (gzip level 1) and uploads two objects at a time. Measured on the 2-core test machine against
 * MinIO, busy with other work: 300,000 messages (76 MiB of WAL) in 1.1 s, about 70 MiB/s.
 */
export const SPILL_BUDGET_BYTES_PER_SECOND = 16 * 2 ** 20;
/** Fixed part of the spill budget: listing, the first connection, the last object's PUT. */
const SPILL_FIXED_SECONDS = 5;
/** Kept back from the grace period for closing connections and exiting before SIGKILL. */
export const STOP_MARGIN_SECONDS = 5;

/** The WAL is lost with the pod and there is a bucket to spill to. */
export const spills = (r: ResolvedPipeline): boolean =>
  r.wal.storage.type === 'Ephemeral' && r.deadLetter !== undefined;

/** Seconds a stopping worker may spend spilling its WAL to S3 after the drain (0 when it does not spill). */
export function spillSeconds(r: ResolvedPipeline): number {
  if (!spills(r)) return 0;
  return SPILL_FIXED_SECONDS + Math.ceil(r.wal.sizeLimitBytes / SPILL_BUDGET_BYTES_PER_SECOND);
}

/** The pod's terminationGracePeriodSeconds: the spec's drain time, plus the spill time where the worker spills. */
export function podGraceSeconds(r: ResolvedPipeline): number {
  return r.terminationGracePeriodSeconds + spillSeconds(r);
}

/** Seconds after SIGTERM the worker drains into PostgreSQL before it spills or stops. */
export function drainSeconds(r: ResolvedPipeline): number {
  return Math.max(5, r.terminationGracePeriodSeconds - STOP_MARGIN_SECONDS);
}
