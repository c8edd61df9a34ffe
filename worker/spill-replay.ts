// Replaying spill objects (spill.ts) into this worker's WAL: on start and every interval, any worker of the
// pipeline lists the spill folder, claims an object (spill-store.ts), appends its messages to its own WAL,
// waits for the fsync, and only then deletes the object and the claim. From there the flushers take them
// like any received message. A crash between the append and the delete leaves the object and the claim:
// the object is replayed again (by this pod after a restart, or by anyone once the lease runs out), a
// counted duplicate, never a loss.

import type { Logger } from '../common/logger.ts';
import type { InboundMessage } from './message.ts';
import type { WorkerMetrics } from './metrics.ts';
import { decodeSpill, spillFolder } from './spill-format.ts';
import type { SpillStore } from './spill-store.ts';
import { takeOver } from './stop-decide.ts';
import type { Wal } from './wal.ts';

/** Replays only while the WAL is below this share of its limit: received messages come first. */
const ROOM_SHARE = 0.5;

export interface ReplayJob {
  key: string;
  messages: InboundMessage[];
}

export class SpillReplayer {
  private readonly store: SpillStore;
  private readonly folder: string;
  private readonly instance: string;
  private readonly wal: Wal;
  private readonly metrics: WorkerMetrics;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopping = false;
  /** Objects appended to the WAL by this process whose delete has not succeeded yet: never appended twice. */
  private readonly appended = new Map<string, ReplayJob>();

  constructor(
    store: SpillStore,
    place: { prefix: string; pipeline: string; instance: string },
    deps: { wal: Wal; metrics: WorkerMetrics; log: Logger },
  ) {
    this.store = store;
    this.folder = spillFolder(place.prefix, place.pipeline);
    this.instance = place.instance;
    this.wal = deps.wal;
    this.metrics = deps.metrics;
    this.log = deps.log;
  }

  private get hasRoom(): boolean {
    return this.wal.bytes < this.wal.opts.sizeLimitBytes * ROOM_SHARE;
  }

  /** Claims the oldest spill object this worker may take and reads it; undefined when there is none. */
  async claimNext(): Promise<ReplayJob | undefined> {
    for (const key of await this.store.list(this.folder)) {
      if (this.stopping || !this.hasRoom) return undefined;
      if (this.appended.has(key)) continue;
      if (!(await this.store.claim(key, this.instance))) {
        const held = await this.store.claimInfo(key);
        if (held && !takeOver({ me: this.instance, ...held })) continue;
        this.log.info({ key, claimedBy: held?.owner, ageMs: held?.ageMs }, 'taking over a spill object');
        // Two takers at once both replay it: duplicates, which at-least-once allows.
        await this.store.release(key);
        if (!(await this.store.claim(key, this.instance))) continue;
      }
      const body = await this.store.get(key);
      if (!body) {
        await this.store.release(key); // replayed and deleted by another worker meanwhile
        continue;
      }
      try {
        return { key, messages: (await decodeSpill(body)).messages };
      } catch (err) {
        // Kept, not deleted: it may be a newer worker's format, or readable by hand. The next objects go on.
        this.log.error(
          { key, bucket: this.store.bucket, err: (err as Error).message },
          'a spill object cannot be read; it stays in the bucket and is skipped',
        );
        await this.store.release(key);
      }
    }
    return undefined;
  }

  /** Appends the job's messages to the WAL; resolves once they are fsynced. */
  async append(job: ReplayJob): Promise<void> {
    // Once the worker stops, its WAL is drained or spilled for the last time: nothing may join it after that.
    if (this.stopping) throw new Error('the worker is stopping; the spill object stays for another worker');
    for (const m of job.messages) this.wal.append(m);
    await this.wal.settled();
    this.appended.set(job.key, job);
    this.metrics.spillReplayed.inc(job.messages.length);
  }

  /** The messages are durable in this WAL: the object and its claim may go. */
  async finish(job: ReplayJob): Promise<void> {
    await this.store.delete(job.key);
    this.appended.delete(job.key);
    await this.store.release(job.key);
    this.log.info({ key: job.key, messages: job.messages.length }, 'replayed a spill object into the WAL');
  }

  /** One pass over the folder; returns the messages replayed. */
  async runOnce(): Promise<number> {
    let replayed = 0;
    // Deletes that failed last time first: their messages are already in the WAL.
    for (const job of [...this.appended.values()]) await this.finish(job);
    for (;;) {
      const job = await this.claimNext();
      if (!job) return replayed;
      try {
        await this.append(job);
      } catch (err) {
        // Nothing of it is in the WAL: let another worker take it without waiting for the lease.
        await this.store.release(job.key).catch(() => {});
        throw err;
      }
      await this.finish(job);
      replayed += job.messages.length;
    }
  }

  /** A pass now, then one every `intervalMs`; failures are logged and retried at the next pass. */
  start(intervalMs: number): void {
    let busy = false;
    const pass = () => {
      if (busy || this.stopping) return;
      busy = true;
      this.running = this.runOnce()
        .then(
          (n) => n > 0 && this.log.info({ messages: n }, 'spill objects replayed'),
          (err: Error) =>
            this.log.error(
              { err: err.message, bucket: this.store.bucket, folder: this.folder },
              'replaying spill objects failed; retrying at the next pass (the objects stay in the bucket)',
            ),
        )
        .finally(() => {
          busy = false;
        });
    };
    pass();
    this.timer = setInterval(pass, intervalMs);
    this.timer.unref();
  }

  /**
   * No new pass; resolves when the current one has finished, or after `maxWaitMs` (a bucket that hangs must
   * not hold a stopping worker). A pass still running then appends nothing more (see append) and leaves its
   * object in the bucket.
   */
  async stop(maxWaitMs = 5_000): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise((r) => (timer = setTimeout(r, maxWaitMs)))]);
    clearTimeout(timer);
  }
}
