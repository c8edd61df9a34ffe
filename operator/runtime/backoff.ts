// Capped exponential backoff with jitter. Jitter spreads retries of many keys (or many operators after an
// API server restart) so they do not arrive in lockstep.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** 0..1: the delay is drawn uniformly from [d·(1-jitter), d]. */
  jitter?: number;
}

export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const factor = o.factor ?? 2;
  const jitter = o.jitter ?? 0.2;
  const raw = Math.min(o.maxMs, o.initialMs * factor ** Math.max(0, attempt));
  return Math.round(raw * (1 - jitter * random()));
}

/** Per-key attempt counters: `next(key)` gives the delay for the key's next retry; `reset(key)` on success. */
export class KeyedBackoff {
  private readonly attempts = new Map<string, number>();
  private readonly opts: BackoffOptions;
  constructor(opts: BackoffOptions) {
    this.opts = opts;
  }
  next(key: string): number {
    const n = this.attempts.get(key) ?? 0;
    this.attempts.set(key, n + 1);
    return backoffDelay(n, this.opts);
  }
  attemptsOf(key: string): number {
    return this.attempts.get(key) ?? 0;
  }
  reset(key: string): void {
    this.attempts.delete(key);
  }
}

/** A sleep that an AbortSignal ends early (resolving, not rejecting: callers re-check their own state). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
