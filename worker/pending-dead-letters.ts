// Dead letters waiting for an unavailable dead-letter store (S3). The flusher that isolated them commits
// its good rows and moves on; the rejected messages stay durable in the WAL as claims of their own
// (ClaimSource.retain) and are retried here, with backoff, until the PUT succeeds: only then are they
// deleted. A poison row per batch therefore never holds its batch's good rows, nor the flushers, hostage.
// Past `maxMessages` held, flushers wait in line again, so memory stays bounded while S3 is down.

import { type BackoffOptions, backoffDelay } from '../common/backoff.ts';
import { Signal } from './signal.ts';
import type { ClaimedBatch, ClaimSource, DeadLetter, DeadLetterStore } from './stages.ts';

interface Held<C> {
  claim: C;
  letters: DeadLetter[];
}

export interface PendingDeadLettersDeps<C extends ClaimedBatch> {
  source: ClaimSource<C>;
  store: DeadLetterStore;
  backoff: BackoffOptions;
  /** Most messages held at once; beyond it `hold` refuses and the caller retries in line. */
  maxMessages: number;
  /** The letters are stored (under `key`), their claim committed. */
  stored: (letters: DeadLetter[], key: string) => void;
  failed: (err: unknown, attempt: number) => void;
}

export class PendingDeadLetters<C extends ClaimedBatch> {
  private readonly deps: PendingDeadLettersDeps<C>;
  private held: Array<Held<C>> = [];
  private readonly wake = new Signal();
  private running: Promise<void> | undefined;
  private stopped = false;
  /** The last PUT's failure while letters wait; undefined once they are stored. */
  lastError: string | undefined;

  constructor(deps: PendingDeadLettersDeps<C>) {
    this.deps = deps;
  }

  /** Dead letters waiting for the store (the gauge and /readyz report them). */
  get count(): number {
    let n = 0;
    for (const h of this.held) n += h.letters.length;
    return n;
  }

  /**
   * Keeps `letters` (the rejected part of `claim`) durable for a later PUT and commits the rest of the claim.
   * Returns false, having changed nothing, when the holding area is full or stopped.
   */
  async hold(claim: C, letters: DeadLetter[], err: unknown): Promise<boolean> {
    if (this.stopped || this.count + letters.length > this.deps.maxMessages) return false;
    const kept = await this.deps.source.retain(
      claim,
      letters.map((l) => l.message),
    );
    this.held.push({ claim: kept, letters });
    this.lastError = (err as Error).message ?? String(err);
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return true;
  }

  private async run(): Promise<void> {
    for (let attempt = 0; this.held.length > 0 && !this.stopped; ) {
      // Held letters go out together: after an outage, one object instead of one per batch.
      const batch = this.held.slice();
      const letters = batch.flatMap((h) => h.letters);
      try {
        const key = await this.deps.store.put(letters);
        for (const h of batch) await this.deps.source.commit(h.claim);
        this.held = this.held.filter((h) => !batch.includes(h));
        this.lastError = undefined;
        attempt = 0;
        this.deps.stored(letters, key);
      } catch (err) {
        this.lastError = (err as Error).message ?? String(err);
        this.deps.failed(err, attempt);
        await this.wake.wait(backoffDelay(attempt++, this.deps.backoff));
      }
    }
  }

  /** Stops retrying; held claims go back to the source, which keeps them for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.notify();
    await this.running;
    for (const h of this.held) this.deps.source.release(h.claim);
    this.held = [];
  }
}
