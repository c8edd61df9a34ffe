// The flusher pool's write health: whether the last write failed and why (a SinkBlock when PostgreSQL itself
// refuses, pg-errors.ts), and which writes are still waiting. It feeds readiness, the sink-blocked metric and
// a throttled warning log; the pool's decision logic stays in flusher.ts.

import type { Logger } from '../common/logger.ts';
import type { WorkerMetrics } from './metrics.ts';
import { describeBlock, type SinkBlock } from './pg-errors.ts';

const STUCK_WRITE_MS = 10_000;

export type FailureTarget = 'postgres' | 's3' | 'wal';

export interface WriteHealthDeps {
  metrics: WorkerMetrics;
  log: Logger;
  /** Called when writes succeed again after failing (the pool wakes flushers backing off). */
  recovered: () => void;
}

export class WriteHealth {
  private readonly deps: WriteHealthDeps;
  private lastOk = true;
  /** When each write still in progress started (a hung write must show in readiness too). */
  private readonly writesInProgress = new Set<{ since: number }>();
  lastError: string | undefined;
  /** Why writes to PostgreSQL fail, while they do (not a row's fault): readiness, metric, log. */
  private block: SinkBlock | undefined;

  constructor(deps: WriteHealthDeps) {
    this.deps = deps;
  }

  /** Why writes are not healthy, for /readyz: the last one failed, or one has hung for long. */
  get problem(): string | undefined {
    if (!this.lastOk) {
      const b = this.block;
      return b
        ? `last write failed: postgres: ${b.message} (${b.code}): ${b.fix}; retrying with backoff, nothing is dead-lettered for it`
        : `last write failed: ${this.lastError ?? 'unknown error'}`;
    }
    const now = performance.now();
    for (const w of this.writesInProgress) {
      if (now - w.since > STUCK_WRITE_MS) {
        return `a write has waited ${Math.round((now - w.since) / 1000)} s for PostgreSQL (is it, or PgBouncer, up?)`;
      }
    }
    return undefined;
  }

  /** What blocks writes (not a row's fault) while the last write failed for it. */
  get blocked(): SinkBlock | undefined {
    return this.lastOk ? undefined : this.block;
  }

  /** A write starts; pass the token to writeEnded when it (and its backoff) is over. */
  writeStarted(): { since: number } {
    const w = { since: performance.now() };
    this.writesInProgress.add(w);
    return w;
  }

  writeEnded(w: { since: number }): void {
    this.writesInProgress.delete(w);
  }

  markHealthy(): void {
    if (!this.lastOk) {
      this.deps.log.info('writes succeed again');
      // The others may be backing off for up to maxBackoff: all of them drain now (flusher-resume.test.ts).
      this.deps.recovered();
    }
    this.lastOk = true;
    this.lastError = undefined;
    if (this.block) {
      this.block = undefined;
      this.deps.metrics.sinkBlocked.reset();
    }
  }

  markFailing(target: FailureTarget, err: unknown, attempt: number): void {
    this.deps.metrics.retries.inc({ target });
    const message = (err as Error).message ?? String(err);
    const block = target === 'postgres' ? describeBlock(err) : undefined;
    if (target !== 's3') this.lastOk = false;
    if (block) {
      if (block.code !== this.block?.code) {
        this.deps.metrics.sinkBlocked.reset();
        this.deps.metrics.sinkBlocked.set({ sqlstate: block.code }, 1);
      }
      this.block = block;
    }
    // The first failure and then every tenth: an outage is visible without flooding the log.
    if (attempt % 10 === 0) {
      this.deps.log.warn(
        { target, attempt, code: (err as { code?: string }).code, err: message, ...(block ? { fix: block.fix } : {}) },
        `${target} write failed; retrying with backoff (nothing is dropped)`,
      );
    }
    this.lastError = `${target}: ${message}`;
  }
}
