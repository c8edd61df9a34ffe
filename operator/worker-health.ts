// The worker pods' health per subsystem (HTTP_PATHS.subsystems on their health port, api/worker-health.ts),
// asked every few seconds for every pipeline by the one worker poll (worker-poll.ts), kept for the reconciler,
// which turns the last answers into conditions (status.ts → subsystem-conditions.ts). A pipeline is
// reconciled only when its conditions would change, so a steady pipeline causes no work and no status write.

import type { IngestPipeline } from '../api/types.ts';
import type { WorkerHealthReport } from '../api/worker-health.ts';
import { type KubeObject, keyOf } from './runtime/kube.ts';
import { subsystemConditions, type WorkerHealth } from './subsystem-conditions.ts';
import type { WorkerListener } from './worker-endpoint.ts';
import type { PodPoll, PollConsumer } from './worker-poll.ts';

export const HEALTH_POLL_MS = 5_000;

export interface WorkerHealthOptions {
  /** How often each pipeline's worker pods are asked (default HEALTH_POLL_MS). */
  intervalMs?: number;
}

export interface WorkerHealthDeps {
  /** The pipeline's conditions would change: reconcile it. */
  changed: (key: string) => void;
}

const HEALTH: readonly WorkerListener[] = ['health'];

/** A pod's /subsystems reading as the conditions take it: the report, or why there is none. */
export function healthOf(pod: PodPoll): WorkerHealth {
  const r = pod.readings.health;
  if (!r) return { pod: pod.pod, error: 'not asked' };
  if ('error' in r) return { pod: pod.pod, error: r.error };
  try {
    return { pod: pod.pod, report: JSON.parse(r.text) as WorkerHealthReport };
  } catch {
    return { pod: pod.pod, error: `${r.url} answered no JSON (is this an mqtt2pg worker?)` };
  }
}

export class WorkerHealthPoller implements PollConsumer {
  private readonly d: WorkerHealthDeps;
  private readonly intervalMs: number;
  private readonly last = new Map<string, { health: WorkerHealth[]; signature: string }>();
  /** When each pipeline was last asked (its pass may still be in flight). */
  private readonly asked = new Map<string, number>();

  constructor(deps: WorkerHealthDeps, opts: WorkerHealthOptions = {}) {
    this.d = deps;
    this.intervalMs = opts.intervalMs ?? HEALTH_POLL_MS;
  }

  /** The last answers of a pipeline's worker pods; undefined until its first poll. */
  get(key: string): WorkerHealth[] | undefined {
    return this.last.get(key)?.health;
  }

  due(p: IngestPipeline & KubeObject, now: number): readonly WorkerListener[] | undefined {
    const key = keyOf(p);
    if (now - (this.asked.get(key) ?? Number.NEGATIVE_INFINITY) < this.intervalMs) return undefined;
    this.asked.set(key, now);
    return HEALTH;
  }

  take(p: IngestPipeline & KubeObject, pass: PodPoll[]): void {
    const key = keyOf(p);
    const health = pass.map(healthOf);
    // Compared by the conditions they make, not by the raw reports (WAL sizes move all the time).
    const signature = JSON.stringify(
      subsystemConditions({
        generation: 0,
        paused: p.spec?.paused === true,
        workersDesired: health.length,
        health,
        now: Date.now(),
      }),
    );
    const before = this.last.get(key);
    this.last.set(key, { health, signature });
    if (before?.signature !== signature) this.d.changed(key);
  }

  prune(seen: ReadonlySet<string>): void {
    for (const key of this.last.keys()) if (!seen.has(key)) this.last.delete(key);
    for (const key of this.asked.keys()) if (!seen.has(key)) this.asked.delete(key);
  }
}
