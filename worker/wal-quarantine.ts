// Where the WAL keeps what it cannot replay: a record whose bytes fail their checksum or do not decode, a
// key that is not one of its own. Such an entry would fail every claim and every restart (a crash loop with
// everything behind it stuck), so it is moved aside, under its own key prefix in the same LevelDB, byte for
// byte: kept for inspection (docs/reliability.md), counted, never replayed, never compacted with the log.

import type { Level } from 'level';
import { KEY_BYTES } from './wal-record.ts';

/** Sorts after every group key (those start with a u64 sequence number far below 0xff << 56). */
export const QUARANTINE_PREFIX = Buffer.from('\xffquarantine/', 'latin1');

/** Why an entry was moved aside, for the log and the WAL's 'quarantined' event. */
export interface Quarantined {
  /** Its original key, in hex; it is kept under QUARANTINE_PREFIX + that key. */
  key: string;
  messages: number;
  reason: string;
}

/** Messages a quarantined entry held, as its original group key says (0 for a key that was not one). */
function messagesOf(key: Uint8Array): number {
  const k = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (k.length !== QUARANTINE_PREFIX.length + KEY_BYTES) return 0;
  return k.readUInt32BE(QUARANTINE_PREFIX.length + 8);
}

export class Quarantine {
  /** Entries kept aside in this WAL directory (they stay until removed by hand). */
  records = 0;
  /** Messages their keys said they held. */
  messages = 0;
  private readonly db: Level<Buffer, Buffer>;
  private readonly dir: string;
  private readonly onMoved: (q: Quarantined) => void;

  constructor(db: Level<Buffer, Buffer>, dir: string, onMoved: (q: Quarantined) => void) {
    this.db = db;
    this.dir = dir;
    this.onMoved = onMoved;
  }

  /** Counts what earlier runs kept aside (at open). */
  async count(): Promise<void> {
    for await (const k of this.db.keys({ gte: QUARANTINE_PREFIX })) {
      this.records++;
      this.messages += messagesOf(k);
    }
  }

  /** Keeps an entry under the quarantine prefix, byte for byte, and drops it from the log, in one write. */
  async moveAside(key: Buffer, value: Uint8Array | undefined, messages: number, reason: string): Promise<void> {
    await this.db.batch(
      [
        { type: 'put', key: Buffer.concat([QUARANTINE_PREFIX, key]), value: Buffer.from(value ?? []) },
        { type: 'del', key },
      ],
      { sync: true } as object,
    );
    this.records++;
    this.messages += messages;
    this.onMoved({ key: key.toString('hex'), messages, reason });
  }

  /** What /readyz, the worker's log and `mqtt2pg drain` say about entries kept aside, if any are. */
  get note(): string | undefined {
    if (this.records === 0) return undefined;
    return `${this.records} damaged WAL entries (${this.messages} messages) are kept aside in ${this.dir}, never replayed; see "A damaged WAL record" in docs/reliability.md`;
  }
}
