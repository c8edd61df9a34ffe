// Gives the disk space of deleted WAL records back.
//
// LevelDB deletes by writing tombstones; the deleted records' bytes stay in their table files until a
// compaction covering those keys rewrites them. LevelDB starts compactions by level size and by seeks, and
// neither happens here: the WAL's keys only grow, committed ranges are never read again, and a log that fills
// and drains leaves its tables below the level limits. Measured with a 32 MiB limit, every fill/drain cycle
// left about one limit of dead bytes behind (12.8x the limit after 14 cycles, 11.7x with the log empty), so a
// volume sized from wal.sizeLimit fills after a few PostgreSQL outages. Compacting the range deleted since the
// last compaction once it holds a quarter of the limit keeps the directory near 1x the limit at its peak and
// near empty once drained: one compaction per quarter-limit of commits, over dead keys only (no live record is
// rewritten unless a table straddles the range's edge), run one at a time in the background so appends and
// commits never wait for it.

export interface Compactable {
  compactRange(start: Buffer, end: Buffer): Promise<void>;
}

export class DeletedRangeCompactor {
  private from: Buffer | undefined;
  private to: Buffer | undefined;
  private deletedBytes = 0;
  private running: Promise<void> | undefined;
  private readonly db: Compactable;
  /** Bytes of deleted records that trigger a compaction of their range. */
  private readonly thresholdBytes: number;
  private readonly onError: (err: Error) => void;

  constructor(db: Compactable, thresholdBytes: number, onError: (err: Error) => void) {
    this.db = db;
    this.thresholdBytes = thresholdBytes;
    this.onError = onError;
  }

  /** Notes keys just deleted (and their record bytes); starts a compaction once enough have piled up. */
  deleted(keys: readonly Buffer[], bytes: number): void {
    for (const k of keys) this.widen(k);
    this.deletedBytes += bytes;
    this.startIfDue();
  }

  /** Resolves once no compaction runs or is due (close() waits for it; LevelDB must not close mid-compaction). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private widen(k: Buffer): void {
    if (this.from === undefined || Buffer.compare(k, this.from) < 0) this.from = k;
    if (this.to === undefined || Buffer.compare(k, this.to) > 0) this.to = k;
  }

  private startIfDue(): void {
    if (this.running || this.deletedBytes < this.thresholdBytes) return;
    const from = this.from as Buffer;
    const to = this.to as Buffer;
    this.from = undefined;
    this.to = undefined;
    this.deletedBytes = 0;
    this.running = this.db
      .compactRange(from, to)
      .catch((err: Error) => {
        // The failed range joins the next one, so its dead bytes are still given back.
        this.widen(from);
        this.widen(to);
        this.onError(err);
      })
      .finally(() => {
        this.running = undefined;
        // Deletes noted while this one ran may already be due: their compaction starts now, not concurrently.
        this.startIfDue();
      });
  }
}
