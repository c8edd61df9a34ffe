// Whether the dead-letter store answers, known before a row needs it: a bucket check every PROBE_MS (a HEAD
// request), so the pipeline's DeadLetterStoreAvailable condition turns False while S3 is down even when no
// row is being rejected. Readiness never depends on it (DESIGN: the worker's surface).

export const DEAD_LETTER_PROBE_MS = 5_000;

export interface Checkable {
  check(): Promise<void>;
}

export class DeadLetterProbe {
  private readonly store: Checkable;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Undefined until the first check ends; the worker's startup check passed, so it starts as available. */
  lastError: string | undefined;

  constructor(store: Checkable) {
    this.store = store;
  }

  start(intervalMs = DEAD_LETTER_PROBE_MS): void {
    this.timer = setInterval(() => void this.probe(), intervalMs);
    this.timer.unref();
  }

  async probe(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.store.check();
      this.lastError = undefined;
    } catch (err) {
      this.lastError = (err as Error).message;
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
