// What a stopping worker does next, and whether a replaying worker may take a spill object: pure decisions,
// so their tables are unit-tested (stop-decide.test.ts) and the I/O around them (shutdown.ts,
// spill-replay.ts) stays a thin loop.

/** PostgreSQL committed nothing for this long while messages wait: it is failing; spill instead of waiting. */
export const STALL_MS = 5_000;

export interface StopState {
  now: number;
  /** Messages still in the WAL (acknowledged, not committed). */
  walMessages: number;
  /** End of the drain into PostgreSQL (grace period minus the spill time and a margin). */
  drainDeadline: number;
  /** When a commit last took messages out of the WAL (the start of the stop, before the first). */
  lastProgressAt: number;
  /** The WAL goes with the pod and a bucket is configured (api/shutdown.ts spills). */
  canSpill: boolean;
}

/**
 * - `drain`: keep flushing into PostgreSQL;
 * - `done`: the WAL is empty;
 * - `spill`: write the rest to the bucket: the drain time is up, or PostgreSQL made no progress for STALL_MS
 *   (waiting longer only shortens the time left for the spill);
 * - `leave`: the drain time is up and there is nowhere to spill; the rest stays in the WAL (a persistent
 *   volume replays it; an emptyDir loses it, which the worker logs as an error).
 */
export type StopAction = 'drain' | 'done' | 'spill' | 'leave';

export function stopAction(s: StopState): StopAction {
  if (s.walMessages === 0) return 'done';
  const drainOver = s.now >= s.drainDeadline;
  if (!s.canSpill) return drainOver ? 'leave' : 'drain';
  return drainOver || s.now - s.lastProgressAt >= STALL_MS ? 'spill' : 'drain';
}

/** How long a claim on a spill object holds before another worker may take the object over. */
export const CLAIM_LEASE_MS = 60_000;

export interface ClaimState {
  /** This worker's instance (pod name). */
  me: string;
  /** The instance named in the existing claim. */
  owner: string;
  /** Age of the existing claim. */
  ageMs: number;
}

/**
 * Whether to take over a spill object someone already claimed: yes when the claim is this worker's own from
 * before a restart (the container restarted in the same pod), or when its lease ran out (the claimer died
 * with its pod before it deleted the object). Two workers taking the same object over cost duplicates, never loss.
 */
export function takeOver(c: ClaimState): boolean {
  return c.owner === c.me || c.ageMs >= CLAIM_LEASE_MS;
}
