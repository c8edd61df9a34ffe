// Capped exponential backoff with jitter, for every retry loop of the worker and the operator. Jitter
// spreads retries of many flushers, workers, keys or operators (after a PostgreSQL, broker or API server
// restart) so they do not arrive in lockstep.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** 0..1: the delay is drawn uniformly from [d·(1-jitter), d]; jitter only ever shortens it. */
  jitter?: number;
}

// Past this many doublings every delay is capped anyway; the bound keeps factor ** attempt finite.
const MAX_EXPONENT = 64;

/** The delay before retry number `attempt` (0 for the first retry); at least 1 ms, so a retry loop never spins. */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const factor = o.factor ?? 2;
  const jitter = o.jitter ?? 0.2;
  const exponent = Math.min(MAX_EXPONENT, Math.max(0, attempt));
  const ceiling = Math.min(o.maxMs, o.initialMs * factor ** exponent);
  return Math.max(1, Math.round(ceiling * (1 - jitter * random())));
}

/** One retry loop's attempt counter: `next()` gives the next delay, `reset()` after a success. */
export class Backoff {
  private attempt = 0;
  private readonly opts: BackoffOptions;
  constructor(opts: BackoffOptions) {
    this.opts = opts;
  }
  next(): number {
    return backoffDelay(this.attempt++, this.opts);
  }
  reset(): void {
    this.attempt = 0;
  }
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
