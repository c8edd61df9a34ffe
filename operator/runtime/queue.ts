// A per-key work queue in the manner of client-go's: a key waiting in the queue is held once however often
// it is added (dedup), a key is handed to one worker at a time (a key added while it is being processed runs
// again after, never concurrently), failed keys come back after a capped exponential backoff, and shutdown
// waits for the reconciles in flight.

import { type BackoffOptions, KeyedBackoff } from '../../common/backoff.ts';

export type Handler = (key: string) => Promise<HandlerResult | undefined>;

export interface HandlerResult {
  /** Run the key again after this long even if nothing changes (e.g. to poll a rollout). */
  requeueAfterMs?: number;
}

export interface QueueHooks {
  onDepth?: (depth: number) => void;
  onError?: (key: string, err: unknown, retryInMs: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private readonly backoff: KeyedBackoff;
  private readonly hooks: QueueHooks;
  private shuttingDown = false;

  constructor(backoff: BackoffOptions = { initialMs: 500, maxMs: 5 * 60_000 }, hooks: QueueHooks = {}) {
    this.backoff = new KeyedBackoff(backoff);
    this.hooks = hooks;
  }

  get depth(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
      this.hooks.onDepth?.(this.queue.length);
    }
  }

  /** Adds the key after `ms`; of several pending delays for one key the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  private get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.hooks.onDepth?.(this.queue.length);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Runs `concurrency` workers until shutdown(); resolves when the last in-flight reconcile has finished. */
  async run(handler: Handler, concurrency: number): Promise<void> {
    const worker = async () => {
      for (;;) {
        const key = await this.get();
        if (key === undefined) return;
        try {
          const result = await handler(key);
          this.backoff.reset(key);
          if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
        } catch (err) {
          const delay = this.backoff.next(key);
          this.hooks.onError?.(key, err, delay);
          this.addAfter(key, delay);
        } finally {
          this.done(key);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  /** Stops handing out keys; workers finish what they hold. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
    this.queue.length = 0;
    this.dirty.clear();
  }

  /** Forgets a key's backoff (e.g. its object was deleted). */
  forget(key: string): void {
    this.backoff.reset(key);
    const pending = this.timers.get(key);
    if (pending) {
      clearTimeout(pending.timer);
      this.timers.delete(key);
    }
  }
}
