// The write-ahead log: every message is here, fsynced, before the broker gets its PUBACK, and stays until
// the PostgreSQL transaction (or S3 PUT) holding it has committed.
//
// Group commit: while one synced write runs, arriving messages queue; the next write takes them all. One
// LevelDB record holds one group (wal-groups.ts cuts them, wal-record.ts lays them out). Flushers claim whole
// groups, oldest first; a group is deleted only when its batch is acknowledged; wal-compaction.ts then gives
// the deleted records' disk space back.

import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { Level } from 'level';
import type { InboundMessage } from './message.ts';
import { type Compactable, DeletedRangeCompactor } from './wal-compaction.ts';
import { estimatedBytes, type Group, groupsFromKeys, keyOf, splitIntoGroups } from './wal-groups.ts';
import { QUARANTINE_PREFIX, Quarantine } from './wal-quarantine.ts';
import { decodeGroup } from './wal-record.ts';
import { describeLow, type VolumeState, walDirBytes } from './wal-volume.ts';

export interface WalOptions {
  dir: string;
  /** Most bytes of message records held; `full` turns true at the limit (the receiver stops reading). */
  sizeLimitBytes: number;
  /** Groups whose oldest message is older than this are expired by sweepExpired(). */
  retentionMs: number;
  /** Bytes of decoded messages kept in memory for flushers; groups beyond it are read back from disk. */
  cacheBytes?: number;
  /** Upper bounds of one group record. */
  maxGroupMessages?: number;
  maxGroupBytes?: number;
}

/** A claimed set of groups: the unit a flusher commits and the WAL deletes. */
export interface Claim {
  groups: Group[];
  messages: InboundMessage[];
}

type Durable = (() => void) | undefined;

/**
 * LevelDB's memory, bounded whatever the backlog: a block cache for groups read back, and a memtable of
 * writeBufferSize (two while one is written out). Open tables hold only their index blocks (~15 KiB per 2 MiB
 * table). About 20 MiB in all; docs/benchmarks.md has the worker's whole budget.
 * LevelDB mmaps every open table, so maxOpenFiles also bounds the file-mapped RSS a large backlog reads back:
 * 74 is LevelDB's floor (64 tables + 10 other files), at most ~128 MiB mapped; 500 let a 1M backlog's drain
 * map 14 MiB more for the same drain rate.
 */
const LEVELDB_MEMORY = { cacheSize: 8 * 2 ** 20, writeBufferSize: 4 * 2 ** 20, maxOpenFiles: 74 };
/** Share of the size limit deleted between two compactions of the deleted range (wal-compaction.ts). */
const COMPACT_AFTER_DELETED_SHARE = 0.25;

export class Wal extends EventEmitter {
  readonly opts: Required<WalOptions>;
  private readonly db: Level<Buffer, Buffer>;
  private readonly compactor: DeletedRangeCompactor;
  private nextSeq = 0n;
  /** Groups on disk, not claimed, oldest first. */
  private readonly queue: Group[] = [];
  private readonly claimed = new Set<Group>();
  private pending: InboundMessage[] = [];
  private pendingDurable: Durable[] = [];
  private pendingBytes = 0;
  private writing = false;
  private writeScheduled = false;
  private cachedBytes = 0;
  private closed = false;
  /** Bytes and messages of groups on disk (queued + claimed). */
  bytes = 0;
  messages = 0;
  expired = 0;
  /** Entries moved aside because they cannot be replayed (wal-quarantine.ts). */
  readonly quarantine: Quarantine;
  /** The volume's free space, when watched (wal-volume.ts); while low the log reports itself full. */
  volume: VolumeState | undefined;
  private queuedCount = 0;
  /** Record bytes of the queued groups: a claim's byte bound reads them off the keys, without decoding. */
  private queuedBytes = 0;
  private failure: Error | undefined;

  private constructor(opts: WalOptions) {
    super();
    this.opts = {
      cacheBytes: Math.min(16 * 2 ** 20, opts.sizeLimitBytes),
      maxGroupMessages: 2000,
      maxGroupBytes: 4 * 2 ** 20,
      ...opts,
    };
    mkdirSync(opts.dir, { recursive: true });
    this.db = new Level<Buffer, Buffer>(opts.dir, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      ...LEVELDB_MEMORY,
    });
    this.quarantine = new Quarantine(this.db, opts.dir, (q) => this.emit('quarantined', q));
    // In Node, `level` is classic-level, which has compactRange; the browser-neutral type leaves it out.
    const compactable = this.db as unknown as Compactable;
    if (typeof compactable.compactRange !== 'function') throw new Error('the WAL needs classic-level (LevelDB)');
    this.compactor = new DeletedRangeCompactor(
      compactable,
      this.opts.sizeLimitBytes * COMPACT_AFTER_DELETED_SHARE,
      // Not fatal: nothing is lost, only disk space is not yet given back; the next compaction covers this range too.
      (err) => this.emit('compactionFailed', err),
    );
  }

  /** Opens the log and rebuilds its index from the keys alone: what a restart replays. */
  static async open(opts: WalOptions): Promise<Wal> {
    const wal = new Wal(opts);
    try {
      await wal.db.open();
    } catch (err) {
      const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
      const hint = /no space left/i.test(cause)
        ? 'the volume is full even without the reserve file: grow it or free space on it'
        : 'is another worker using this directory?';
      throw new Error(`cannot open the WAL at ${opts.dir}: ${cause} (${hint})`);
    }
    const replayed = await groupsFromKeys(wal.db.keys({ lt: QUARANTINE_PREFIX }));
    for (const g of replayed.groups) {
      wal.queue.push(g);
      wal.queuedCount += g.count;
      wal.queuedBytes += g.bytes;
      wal.bytes += g.bytes;
      wal.messages += g.count;
    }
    wal.nextSeq = replayed.nextSeq;
    await wal.quarantine.count();
    for (const key of replayed.strays)
      await wal.quarantine.moveAside(key, await wal.db.get(key), 0, `a ${key.length}-byte key is not a group key`);
    return wal;
  }

  get full(): boolean {
    return this.volume?.low === true || this.bytes + this.pendingBytes >= this.opts.sizeLimitBytes;
  }

  /** Below this the receiver resumes reading: hysteresis, so it does not flap at the limit. */
  get belowResumeMark(): boolean {
    return this.volume?.low !== true && this.bytes + this.pendingBytes < this.opts.sizeLimitBytes * 0.9;
  }

  /** Why the log is full, for the receiver's log line. */
  get fullReason(): string {
    return this.volume?.low ? describeLow(this.volume) : 'WAL full';
  }

  /** Set by the volume watch; 'volumeLow' and 'volumeOk' tell the receiver when to stop and resume reading. */
  setVolume(state: VolumeState): void {
    const wasLow = this.volume?.low === true;
    this.volume = state;
    if (state.low !== wasLow) this.emit(state.low ? 'volumeLow' : 'volumeOk', state);
  }

  /** Why the worker is not ready on account of its WAL, if it is not. */
  get problem(): string | undefined {
    return this.volume?.low ? describeLow(this.volume) : undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get oldestReceivedAt(): number | undefined {
    let oldest: number | undefined;
    for (const g of this.claimed) if (oldest === undefined || g.oldestReceivedAt < oldest) oldest = g.oldestReceivedAt;
    const head = this.queue[0];
    if (head && (oldest === undefined || head.oldestReceivedAt < oldest)) oldest = head.oldestReceivedAt;
    const p = this.pending[0];
    if (p && (oldest === undefined || p.receivedAt < oldest)) oldest = p.receivedAt;
    return oldest;
  }

  /** Messages durable and waiting for a flusher. */
  get available(): number {
    return this.queuedCount;
  }

  /** Record bytes of the messages waiting for a flusher. */
  get availableBytes(): number {
    return this.queuedBytes;
  }

  /** Receive time of the oldest message waiting for a flusher. */
  get oldestAvailableAt(): number | undefined {
    return this.queue[0]?.oldestReceivedAt;
  }

  /**
   * Queues a message for the next group commit; `durable` runs once it is fsynced, in append order.
   * Throws once the log has failed: nothing may be acknowledged after a failed write.
   */
  append(message: InboundMessage, durable?: () => void): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('the WAL is closed');
    this.pending.push(message);
    this.pendingDurable.push(durable);
    this.pendingBytes += estimatedBytes(message);
    if (!this.writing && !this.writeScheduled) {
      this.writeScheduled = true;
      // setImmediate, not a microtask: every PUBLISH parsed from the same socket read joins this group.
      setImmediate(() => this.writeLoop());
    }
  }

  /** Resolves when every appended message is durable (used on shutdown). */
  async settled(): Promise<void> {
    while (this.writing || this.writeScheduled || this.pending.length > 0) {
      if (this.failure) throw this.failure;
      await new Promise((r) => this.once('durable', r));
    }
  }

  private async writeLoop(): Promise<void> {
    this.writeScheduled = false;
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending.length > 0) {
        const messages = this.pending;
        const durable = this.pendingDurable;
        this.pending = [];
        this.pendingDurable = [];
        const groups = this.split(messages);
        const ops = groups.map((g) => ({ type: 'put' as const, key: g.key, value: g.value }));
        try {
          await this.db.batch(ops, { sync: true } as object);
        } catch (err) {
          this.failure = new Error(`WAL write failed: ${(err as Error).message}`);
          this.emit('error', this.failure);
          return;
        }
        this.pendingBytes -= groups.reduce((n, g) => n + g.estimated, 0);
        for (const g of groups) this.enqueue(g.group);
        for (const d of durable) d?.();
        this.emit('durable');
        this.emit('available');
      }
    } finally {
      this.writing = false;
      this.emit('durable');
    }
  }

  private split(messages: InboundMessage[]) {
    const limits = { maxMessages: this.opts.maxGroupMessages, maxBytes: this.opts.maxGroupBytes };
    return splitIntoGroups(messages, limits, () => this.nextSeq++);
  }

  private enqueue(g: Group) {
    this.bytes += g.bytes;
    this.messages += g.count;
    if (this.cachedBytes + g.bytes <= this.opts.cacheBytes) {
      this.cachedBytes += g.bytes;
      g.cached = true;
    } else {
      delete g.messages;
    }
    this.queue.push(g);
    this.queuedCount += g.count;
    this.queuedBytes += g.bytes;
  }

  /**
   * Claims the oldest groups up to maxMessages and maxBytes of records (at least one group) for a flusher.
   * The claim is taken synchronously, so concurrent flushers never get the same group; uncached groups are
   * then read back.
   */
  async claim(maxMessages: number, maxBytes = Number.POSITIVE_INFINITY): Promise<Claim | undefined> {
    if (this.queue.length === 0) return undefined;
    const groups: Group[] = [];
    let n = 0;
    let bytes = 0;
    const fits = (g: Group) => n + g.count <= maxMessages && bytes + g.bytes <= maxBytes;
    while (this.queue.length > 0 && (groups.length === 0 || fits(this.queue[0] as Group))) {
      const g = this.queue.shift() as Group;
      g.key = keyOf(g);
      this.claimed.add(g);
      groups.push(g);
      n += g.count;
      bytes += g.bytes;
    }
    this.queuedCount -= n;
    this.queuedBytes -= bytes;
    const missing = groups.filter((g) => !g.messages);
    if (missing.length > 0) {
      const damaged: Group[] = [];
      try {
        const values = await this.db.getMany(missing.map(keyOf));
        for (const [i, g] of missing.entries()) {
          const v = values[i];
          const problem = v ? this.decodeInto(g, v) : 'its value is missing from disk';
          if (problem === undefined) continue;
          // Moved aside, not thrown: a record that cannot be decoded would fail this claim on every replay.
          await this.quarantine.moveAside(keyOf(g), v, g.count, problem);
          damaged.push(g);
        }
      } catch (err) {
        this.release({ groups: groups.filter((g) => !damaged.includes(g)), messages: [] });
        if (damaged.length > 0) this.forget(damaged);
        throw err;
      }
      if (damaged.length > 0) {
        this.forget(damaged);
        const good = groups.filter((g) => !damaged.includes(g));
        groups.splice(0, groups.length, ...good);
        if (groups.length === 0) return this.claim(maxMessages);
      }
    }
    const messages: InboundMessage[] = [];
    for (const g of groups) for (const m of g.messages as InboundMessage[]) messages.push(m);
    return { groups, messages };
  }

  /** Decodes a group read back from disk; returns why it cannot be replayed, if it cannot. */
  private decodeInto(g: Group, value: Uint8Array): string | undefined {
    try {
      // Read-back groups are not cached: they are committed and dropped soon, and the cache is for new ones.
      const messages = decodeGroup(value);
      if (messages.length !== g.count) return `it holds ${messages.length} messages where its key says ${g.count}`;
      g.messages = messages;
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** The claim's rows (or dead letters) are committed: delete its groups. */
  async commit(claim: Claim): Promise<void> {
    // Not synced: a lost delete only replays already-committed rows (a counted duplicate), never loses one.
    await this.db.batch(claim.groups.map((g) => ({ type: 'del' as const, key: keyOf(g) })));
    this.forget(claim.groups);
  }

  /**
   * Deletes the claim's groups but `keep`, which is written as new groups in the same atomic batch and
   * returned as a claim of its own (held, not queued). Not synced, like commit: after a crash either the
   * old groups or the new ones are there, never neither.
   */
  async retain(claim: Claim, keep: InboundMessage[]): Promise<Claim> {
    const fresh = this.split(keep);
    await this.db.batch([
      ...fresh.map((g) => ({ type: 'put' as const, key: g.key, value: g.value })),
      ...claim.groups.map((g) => ({ type: 'del' as const, key: keyOf(g) })),
    ]);
    const groups = fresh.map((g) => g.group);
    for (const g of groups) {
      this.bytes += g.bytes;
      this.messages += g.count;
      this.claimed.add(g);
    }
    this.forget(claim.groups);
    return { groups, messages: keep };
  }

  /** Bytes of the WAL directory's files: records plus LevelDB's logs, tables and dead bytes not yet compacted. */
  get diskBytes(): number {
    return walDirBytes(this.opts.dir);
  }

  /** Resolves once no compaction of deleted records runs or is due. */
  compactionSettled(): Promise<void> {
    return this.compactor.settled();
  }

  /** Hands a claim back (shutdown before it committed): its groups go back to the head, in order. */
  release(claim: Claim): void {
    for (const g of claim.groups) {
      this.claimed.delete(g);
      this.queuedCount += g.count;
      this.queuedBytes += g.bytes;
    }
    this.queue.unshift(...claim.groups);
    this.queue.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    this.emit('available');
  }

  private forget(groups: Group[]) {
    let bytes = 0;
    for (const g of groups) {
      bytes += g.bytes;
      this.claimed.delete(g);
      this.bytes -= g.bytes;
      this.messages -= g.count;
      if (g.cached) this.cachedBytes -= g.bytes;
      delete g.messages;
    }
    this.compactor.deleted(groups.map(keyOf), bytes);
    this.emit('committed');
  }

  /** Deletes queued groups older than the retention; returns the number of messages expired. */
  async sweepExpired(now = Date.now()): Promise<number> {
    const cutoff = now - this.opts.retentionMs;
    const old: Group[] = [];
    while (this.queue.length > 0 && (this.queue[0] as Group).oldestReceivedAt < cutoff) {
      const g = this.queue.shift() as Group;
      this.queuedCount -= g.count;
      this.queuedBytes -= g.bytes;
      old.push(g);
    }
    if (old.length === 0) return 0;
    await this.db.batch(old.map((g) => ({ type: 'del' as const, key: keyOf(g) })));
    for (const g of old) this.claimed.add(g);
    this.forget(old);
    const n = old.reduce((s, g) => s + g.count, 0);
    this.expired += n;
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.settled().catch(() => {});
    this.closed = true;
    await this.compactor.settled();
    await this.db.close();
  }
}
