// What to do with the WAL volumes of worker ordinals that no longer run. A StatefulSet scaled down (spec or
// autoscaler) stops its highest ordinals and keeps their PVCs (whenScaled: Retain); a pipeline being deleted
// stops them all. Such a volume may still hold messages the worker acknowledged but could not flush before
// its grace period ended (PostgreSQL down, a locked table). The operator runs `mqtt2pg drain` on it in a Job
// and deletes the volume only once a Job succeeded. An ordinal that comes back (scale-up) mounts its volume
// again and its worker flushes it itself, so its Job, if any, goes. Pure: what the caches show in, the
// actions and the status out; operator/wal-drainer.ts does the I/O.

import type { WalDrainStatus } from '../api/types.ts';

export interface ClaimView {
  name: string;
  ordinal: number;
  /** Marked for deletion (the PVC protection waits for the last pod that mounts it). */
  deleting: boolean;
}

/** One finished attempt (a pod of a drain Job), from its termination message. */
export interface DrainAttempt {
  exitCode: number;
  /** Messages the WAL still held when the attempt ended, as `mqtt2pg drain` reported them. */
  left?: number;
  /** Why it stopped short. */
  error?: string;
  finishedAt: string;
}

export interface JobView {
  name: string;
  ordinal: number;
  claim: string;
  /** The Job's Complete condition is True. */
  complete: boolean;
  /** The Job's Failed condition is True: it ran out of attempts (backoffLimit). */
  failed: boolean;
  deleting: boolean;
  attempts: DrainAttempt[];
}

export interface DrainInput {
  /** Ordinals below this have a worker that mounts (or will mount) their volume; 0 while being deleted. */
  keep: number;
  /** Ordinals that have a worker pod, terminating ones included: it still holds its volume. */
  workerPods: Set<number>;
  claims: ClaimView[];
  jobs: JobView[];
  /** The status written last, to keep what an earlier Job reported once it is replaced. */
  previous: WalDrainStatus[] | undefined;
  /** The drain Job's name for an ordinal. */
  jobName: (ordinal: number) => string;
}

export interface DrainPlan {
  createJobs: number[];
  deleteJobs: string[];
  /** Volumes a Job drained: the operator may release them now. */
  deleteClaims: string[];
  status: WalDrainStatus[];
}

/** A claim name of the pipeline's workers: `<template>-<pipeline>-worker-<ordinal>`; the ordinal, or undefined. */
export function claimOrdinal(claim: string, template: string, worker: string): number | undefined {
  const prefix = `${template}-${worker}-`;
  if (!claim.startsWith(prefix)) return undefined;
  const rest = claim.slice(prefix.length);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

/** The termination message of a drain pod, parsed; what is not a drain report yields nothing. */
export function parseDrainReport(message: string | undefined): Pick<DrainAttempt, 'left' | 'error'> {
  if (!message) return {};
  try {
    const r = JSON.parse(message) as { left?: unknown; error?: unknown };
    return {
      ...(typeof r.left === 'number' && Number.isInteger(r.left) && r.left >= 0 ? { left: r.left } : {}),
      ...(typeof r.error === 'string' ? { error: r.error } : {}),
    };
  } catch {
    return {};
  }
}

/** A report's reason, cut so the status message stays within the schema's 4096 characters. */
const clip = (text: string, max = 1000) => (text.length > max ? `${text.slice(0, max)}...` : text);

export function planDrains(o: DrainInput): DrainPlan {
  const plan: DrainPlan = { createJobs: [], deleteJobs: [], deleteClaims: [], status: [] };
  const claims = new Map(o.claims.map((c) => [c.name, c]));
  const jobsByClaim = new Map<string, JobView>();
  for (const j of o.jobs) {
    if (j.deleting) continue;
    const c = claims.get(j.claim);
    // A Job whose volume is gone (a user deleted it) or whose ordinal came back (its worker drains it).
    if (!c || j.ordinal < o.keep) plan.deleteJobs.push(j.name);
    else jobsByClaim.set(j.claim, j);
  }
  for (const c of [...o.claims].sort((a, b) => a.ordinal - b.ordinal)) {
    if (c.ordinal < o.keep || c.deleting) continue;
    const before = o.previous?.find((s) => s.claim === c.name);
    const job = jobsByClaim.get(c.name);
    const entry: WalDrainStatus = { claim: c.name, ordinal: c.ordinal };
    if (before?.messagesLeft !== undefined) entry.messagesLeft = before.messagesLeft;
    if (o.workerPods.has(c.ordinal)) {
      entry.message = `waiting for worker pod ordinal ${c.ordinal} to stop before its volume is drained`;
      plan.status.push(entry);
      continue;
    }
    if (!job) {
      plan.createJobs.push(c.ordinal);
      entry.job = o.jobName(c.ordinal);
      entry.message = `draining with Job ${entry.job}`;
      plan.status.push(entry);
      continue;
    }
    if (job.complete) {
      // `mqtt2pg drain` exits 0 only once the WAL is empty: the volume holds nothing acknowledged any more.
      plan.deleteJobs.push(job.name);
      plan.deleteClaims.push(c.name);
      continue;
    }
    const last = [...job.attempts].sort((a, b) => a.finishedAt.localeCompare(b.finishedAt)).at(-1);
    const failures = job.attempts.filter((a) => a.exitCode !== 0).length;
    entry.job = job.name;
    if (last?.left !== undefined) entry.messagesLeft = last.left;
    if (failures > 0) entry.failedAttempts = failures;
    const why = last && last.exitCode !== 0 ? clip(last.error ?? `exit code ${last.exitCode}`) : undefined;
    if (job.failed) {
      // Out of attempts: a new Job starts over with the Job controller's back-off from 10 s.
      plan.deleteJobs.push(job.name);
      entry.message = `Job ${job.name} ran out of attempts; starting a new one${why ? `; last attempt: ${why}` : ''}`;
    } else {
      entry.message = why
        ? `attempt ${failures} stopped short: ${why}; the Job retries`
        : `draining with Job ${job.name}`;
    }
    plan.status.push(entry);
  }
  return plan;
}

/** The condition message for volumes still being drained (empty list: none). */
export function drainSummary(drains: WalDrainStatus[]): string {
  const each = drains.map(
    (d) =>
      `${d.claim} (${d.messagesLeft === undefined ? 'count not reported yet' : `${d.messagesLeft} messages left`})`,
  );
  const n = drains.length;
  return `${n} WAL volume${n === 1 ? '' : 's'} of removed workers may still hold acknowledged messages, being drained by Jobs: ${each.join(', ')}; the volumes are deleted once drained (status.walDrains)`;
}
