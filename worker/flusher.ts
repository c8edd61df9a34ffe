// Flushers: take batches from the WAL (by size or interval), write them with COPY in one transaction, and
// delete them from the WAL only after the commit (and, for rejected rows, the dead-letter PUT). A batch that
// PostgreSQL rejects for a row-level reason is split until the bad rows are isolated; table, connection and
// server errors are retried with backoff, forever, and reported (pg-errors.ts decides which is which). Dead
// letters the store cannot take yet wait in pending-dead-letters.ts, so their batch's good rows move on.
// The WAL, the table and the dead-letter store are reached through the interfaces of stages.ts (unit tests
// put in-memory stages there).

import { type BackoffOptions, backoffDelay } from '../common/backoff.ts';
import type { Logger } from '../common/logger.ts';
import { WriteHealth } from './flusher-health.ts';
import type { InboundMessage } from './message.ts';
import type { WorkerMetrics } from './metrics.ts';
import type { PayloadLimits } from './payload-limits.ts';
import { PendingDeadLetters } from './pending-dead-letters.ts';
import { classifyFailure, doubtfulAreRows, type SinkBlock, sqlstateOf } from './pg-errors.ts';
import { type PayloadFormat, type Row, rejectedRow, toRow } from './rows.ts';
import { Signal } from './signal.ts';
import type { ClaimedBatch, ClaimSource, DeadLetter, DeadLetterStore, RowSink } from './stages.ts';

export interface FlusherOptions {
  batchSize: number;
  batchBytes: number;
  flushIntervalMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  payloadFormat: PayloadFormat;
  limits: PayloadLimits;
  /** How a message becomes a row (routing.ts); without it, the device contract of rows.ts. */
  toRow?: (message: InboundMessage) => Row;
  /** False while `toRow` cannot decide yet (partitions not read): flushers wait instead of guessing. */
  rowsReady?: () => boolean;
}

export interface FlusherDeps<C extends ClaimedBatch> {
  /** Where batches come from: the WAL. */
  source: ClaimSource<C>;
  /** One sink per flusher (its own connection), opened when the flusher starts, closed when it stops. */
  newSink: (index: number) => RowSink;
  /** Without one, rejected rows go to the unparseable table through the flusher's sink. */
  deadLetters: DeadLetterStore | undefined;
  metrics: WorkerMetrics;
  log: Logger;
}

/** Dead letters held for an unavailable store before flushers wait in line (memory bound while S3 is down). */
const MAX_PENDING_DEAD_LETTERS = 10_000;

class Aborted extends Error {
  override name = 'Aborted';
}

interface Flusher {
  index: number;
  sink: RowSink;
  /** Asked to stop after its current batch (count lowered, or shutdown). */
  retiring: boolean;
  done: Promise<void>;
}

interface Rejected {
  row: Row;
  err: unknown;
  attempts: number;
}

export class FlusherPool<C extends ClaimedBatch> {
  private readonly opts: FlusherOptions;
  private readonly deps: FlusherDeps<C>;
  private readonly backoff: BackoffOptions;
  private readonly flushers: Flusher[] = [];
  private readonly wake = new Signal();
  private readonly sleepers = new Signal();
  private readonly committed = new Signal();
  private draining = false;
  private aborted = false;
  private nextIndex = 0;
  private readonly health: WriteHealth;
  /** Writes holding telemetry rows committed: the evidence that the table takes rows (pg-errors.ts). */
  private telemetryCommits = 0;
  private readonly pending: PendingDeadLetters<C> | undefined;

  constructor(opts: FlusherOptions, deps: FlusherDeps<C>) {
    this.opts = opts;
    this.deps = deps;
    this.backoff = { initialMs: opts.initialBackoffMs, maxMs: opts.maxBackoffMs, jitter: 0.5 };
    deps.source.on('available', () => this.wake.notify());
    deps.source.on('committed', () => this.committed.notify());
    this.health = new WriteHealth({ metrics: deps.metrics, log: deps.log, recovered: () => this.sleepers.notify() });
    const store = deps.deadLetters;
    if (store) {
      this.pending = new PendingDeadLetters({
        source: deps.source,
        store,
        backoff: this.backoff,
        maxMessages: MAX_PENDING_DEAD_LETTERS,
        stored: (letters, key) => this.storedDeadLetters(letters, key),
        failed: (err, attempt) => this.health.markFailing('s3', err, attempt),
      });
      deps.metrics.pendingDeadLetters.set(0);
    }
  }

  /**
   * Readiness: the last write attempt succeeded and none has hung for long. Behind PgBouncer a write waits
   * in its queue while PostgreSQL is down instead of failing, so a stuck write counts as a failure.
   */
  get healthy(): boolean {
    return this.problem === undefined;
  }

  /** Why the pool is not healthy, for /readyz. */
  get problem(): string | undefined {
    return this.health.problem;
  }

  /** The last failure ("postgres: ...", "s3: ...", "wal: ..."), until a write succeeds; the drain report names it. */
  get lastError(): string | undefined {
    return this.health.lastError;
  }

  /** What /readyz adds while ready: dead letters waiting for the store. */
  get notes(): string | undefined {
    const n = this.pending?.count ?? 0;
    if (n === 0) return undefined;
    return `${n} dead letters wait for the dead-letter store (${this.pending?.lastError ?? 'retrying'}); the other rows flow`;
  }

  /** What blocks writes (not a row's fault) while the last write failed for it: the health report. */
  get blocked(): SinkBlock | undefined {
    return this.health.blocked;
  }

  /** Dead letters waiting in the WAL for the store, and the store's last error. */
  get pendingDeadLetters(): { count: number; lastError: string | undefined } {
    return { count: this.pending?.count ?? 0, lastError: this.pending?.lastError };
  }

  get count(): number {
    return this.flushers.filter((f) => !f.retiring).length;
  }

  /** Sets the number of flushers, live: new ones start at once, surplus ones stop after their batch. */
  setCount(n: number): void {
    const active = this.flushers.filter((f) => !f.retiring);
    for (let i = active.length; i < n; i++) this.spawn();
    for (const f of active.slice(n)) f.retiring = true;
    this.wake.notify();
    this.deps.metrics.activeFlushers.set(n);
  }

  private spawn() {
    const index = this.nextIndex++;
    const f: Flusher = { index, sink: this.deps.newSink(index), retiring: false, done: Promise.resolve() };
    f.done = this.run(f).finally(async () => {
      await f.sink.close();
      this.flushers.splice(this.flushers.indexOf(f), 1);
    });
    this.flushers.push(f);
  }

  private async run(f: Flusher): Promise<void> {
    const { source } = this.deps;
    let failures = 0;
    while (!f.retiring && !this.aborted) {
      const due = this.dueInMs();
      if (due > 0) {
        await this.wake.wait(due === Number.POSITIVE_INFINITY ? undefined : due);
        continue;
      }
      let claim: C | undefined;
      try {
        if (this.opts.rowsReady && !this.opts.rowsReady()) {
          await this.sleep(100);
          continue;
        }
        claim = await source.claim(this.opts.batchSize, this.opts.batchBytes);
        if (!claim) continue;
        await this.process(f, claim);
        failures = 0;
      } catch (err) {
        if (claim) source.release(claim);
        if (err instanceof Aborted) return;
        // Outside the write's own retries (reading the WAL, turning messages into rows, deleting a committed
        // claim): retried with backoff like a write, never a rejection that ends the flusher or the process.
        // A commit that failed after its transaction replays the claim: a counted duplicate, never a loss.
        this.health.markFailing('wal', err, failures);
        try {
          await this.sleep(backoffDelay(failures++, this.backoff));
        } catch {
          return; // aborted while waiting
        }
      }
    }
  }

  /** 0 when a batch should be taken now; otherwise how long until the oldest waiting row is due. */
  private dueInMs(): number {
    const { source } = this.deps;
    if (source.available === 0) return Number.POSITIVE_INFINITY;
    if (source.available >= this.opts.batchSize || source.availableBytes >= this.opts.batchBytes || this.draining)
      return 0;
    const oldest = source.oldestAvailableAt ?? Date.now();
    return Math.max(0, oldest + this.opts.flushIntervalMs - Date.now());
  }

  private async process(f: Flusher, claim: C): Promise<void> {
    const { metrics, source } = this.deps;
    const started = performance.now();
    const { toRow: build, payloadFormat, limits } = this.opts;
    const rows = claim.messages.map((m) => (build ? build(m) : toRow(m, payloadFormat, limits)));
    const rejected: Rejected[] = [];
    await this.writeAll(f, rows, rejected);
    const held = rejected.length > 0 && (await this.handleRejected(f, rejected, claim));
    if (!held) await source.commit(claim);

    const now = Date.now();
    metrics.batchDuration.observe((performance.now() - started) / 1000);
    metrics.batchRows.observe(rows.length);
    let telemetry = 0;
    for (const r of rows) {
      if (r.kind !== 'unparseable') telemetry++;
      else metrics.unparseable.inc({ reason: r.reason });
      metrics.receiveToCommit.observe((now - r.message.receivedAt) / 1000);
    }
    metrics.flushedRows.inc(telemetry - rejected.filter((x) => x.row.kind !== 'unparseable').length);
  }

  /**
   * Writes the rows, isolating the ones PostgreSQL rejects into `rejected`. Rows that fail alone with a
   * doubtful SQLSTATE are rejected only if the table took rows meanwhile; otherwise the table is at fault,
   * and they are retried with backoff until it takes them (or takes others, which settles it).
   */
  private async writeAll(f: Flusher, rows: Row[], rejected: Rejected[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const before = this.telemetryCommits;
      const doubtful: Rejected[] = [];
      await this.writeIsolating(f, rows, rejected, doubtful, 0);
      if (doubtful.length === 0) return;
      if (doubtfulAreRows(before, this.telemetryCommits)) {
        rejected.push(...doubtful);
        return;
      }
      this.health.markFailing('postgres', (doubtful[0] as Rejected).err, attempt);
      await this.sleep(backoffDelay(attempt, this.backoff));
      rows = doubtful.map((d) => d.row);
    }
  }

  private async writeIsolating(
    f: Flusher,
    rows: Row[],
    rejected: Rejected[],
    doubtful: Rejected[],
    depth: number,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const inProgress = this.health.writeStarted();
      try {
        await f.sink.write(rows);
        if (rows.some((r) => r.kind !== 'unparseable')) this.telemetryCommits++;
        this.health.markHealthy();
        return;
      } catch (err) {
        const kind = classifyFailure(err);
        if (kind !== 'retry') {
          if (kind === 'row') this.health.markHealthy();
          if (rows.length === 1) {
            (kind === 'row' ? rejected : doubtful).push({ row: rows[0] as Row, err, attempts: depth + 1 });
            return;
          }
          const mid = rows.length >> 1;
          await this.writeIsolating(f, rows.slice(0, mid), rejected, doubtful, depth + 1);
          await this.writeIsolating(f, rows.slice(mid), rejected, doubtful, depth + 1);
          return;
        }
        this.health.markFailing('postgres', err, attempt);
        await this.sleep(backoffDelay(attempt, this.backoff));
      } finally {
        this.health.writeEnded(inProgress);
      }
    }
  }

  /**
   * Rejected rows go to the DLQ, or without one to the unparseable table; either way, retried until stored.
   * When the DLQ fails, the letters are held (pending-dead-letters.ts) and true is returned: the claim's other
   * rows are committed already, and the flusher moves on.
   */
  private async handleRejected(f: Flusher, rejected: Rejected[], claim: C): Promise<boolean> {
    const { deadLetters, log } = this.deps;
    const letters: DeadLetter[] = rejected.map(({ row, err, attempts }) => {
      const sqlstate = sqlstateOf(err);
      return { message: row.message, ...(sqlstate ? { sqlstate } : {}), error: (err as Error).message, attempts };
    });
    for (let attempt = 0; ; attempt++) {
      try {
        if (deadLetters) {
          this.storedDeadLetters(letters, await deadLetters.put(letters));
          return false;
        } else {
          await f.sink.write(letters.map((l) => rejectedRow(l.message, `${l.sqlstate ?? ''} ${l.error}`.trim())));
          log.warn(
            { rows: letters.length, sqlstate: letters[0]?.sqlstate },
            'rows rejected by PostgreSQL stored in the unparseable table (no dead-letter bucket configured)',
          );
          this.countDeadLetters(letters);
          return false;
        }
      } catch (err) {
        this.health.markFailing(deadLetters ? 's3' : 'postgres', err, attempt);
        // A WAL write that fails here changed nothing: the letters are then retried in line.
        if (this.pending && (await this.pending.hold(claim, letters, err).catch(() => false))) {
          this.deps.metrics.pendingDeadLetters.set(this.pending.count);
          if (this.pending.count === letters.length)
            log.warn(
              { rows: letters.length, pending: this.pending.count },
              'dead-letter store unavailable: the rejected rows wait in the WAL, their batch goes on',
            );
          return true;
        }
        await this.sleep(backoffDelay(attempt, this.backoff));
      }
    }
  }

  private storedDeadLetters(letters: DeadLetter[], key: string) {
    this.deps.log.warn(
      { rows: letters.length, key, sqlstate: letters[0]?.sqlstate },
      'rows rejected by PostgreSQL written to the dead-letter bucket',
    );
    this.countDeadLetters(letters);
    this.deps.metrics.pendingDeadLetters.set(this.pending?.count ?? 0);
  }

  private countDeadLetters(letters: DeadLetter[]) {
    for (const l of letters) this.deps.metrics.deadLetters.inc({ sqlstate_class: (l.sqlstate ?? 'XX').slice(0, 2) });
  }

  private async sleep(ms: number): Promise<void> {
    if (this.aborted) throw new Aborted();
    await this.sleepers.wait(ms);
    if (this.aborted) throw new Aborted();
  }

  /**
   * Shutdown: flush everything now, ignoring the interval, until the WAL is empty or the deadline passes.
   * Returns the messages left in the WAL (0 on a clean drain).
   */
  async drain(deadline: number): Promise<number> {
    const { source } = this.deps;
    this.draining = true;
    this.wake.notify();
    while (source.messages > 0 && Date.now() < deadline) {
      await this.committed.wait(Math.max(1, Math.min(250, deadline - Date.now())));
    }
    return source.messages;
  }

  /**
   * Stops every flusher; batches not committed are released to the WAL, which keeps them on disk. A write
   * still waiting after `abortAfterMs` (a locked table, PostgreSQL gone behind PgBouncer) is cut by closing
   * its sink (nothing of it commits), so shutdown stays within the drain budget instead of waiting for the
   * statement timeout.
   */
  async stop(abortAfterMs = 1000): Promise<void> {
    this.aborted = true;
    const pending = this.pending?.stop();
    const flushers = [...this.flushers];
    for (const f of flushers) f.retiring = true;
    this.wake.notify();
    this.sleepers.notify();
    const all = Promise.allSettled(flushers.map((f) => f.done));
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), abortAfterMs);
      }),
    ]);
    clearTimeout(timer);
    if (late) {
      this.deps.log.warn({ flushers: flushers.length }, 'cutting writes still waiting for PostgreSQL at shutdown');
      await Promise.allSettled(flushers.map((f) => f.sink.close()));
    }
    await all;
    await pending;
  }
}
