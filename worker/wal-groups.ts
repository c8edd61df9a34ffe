// The WAL's groups in memory: what the log keeps of each record while it waits, how one synced write's
// messages are cut into group records, and a group's LevelDB key. wal.ts does the I/O and the bookkeeping.

import type { InboundMessage } from './message.ts';
import { decodeKey, encodeGroup, encodeKey, type GroupKey, ownedKey } from './wal-record.ts';

export interface Group extends GroupKey {
  /**
   * Set while claimed (and for a replayed key that does not re-encode to its bytes); a queued group derives its
   * key from its fields (keyOf): a Buffer per group cost ~500 bytes of RSS, ~30 MiB under a 1M backlog.
   */
  key?: Buffer;
  messages?: InboundMessage[];
  /** Counted in the cache budget (kept from the append, not read back). */
  cached?: boolean;
}

/** A group record ready to write, with the group the log keeps once it is durable. */
export interface GroupRecord {
  key: Buffer;
  value: Buffer;
  group: Group;
  /** The messages' estimated bytes (estimatedBytes), what the log counted for them while pending. */
  estimated: number;
}

// Per-message overhead the key/record framing adds, for size accounting before encoding.
const FRAMING_BYTES = 16;

/** A message's size in the log before it is encoded: what `full` counts while its write is pending. */
export function estimatedBytes(m: InboundMessage): number {
  return m.payload.length + m.topic.length + FRAMING_BYTES;
}

/**
 * Cuts messages, in order, into groups of at most maxMessages and about maxBytes (a group holds at least one
 * message, however large); `nextSeq` numbers them.
 */
export function splitIntoGroups(
  messages: InboundMessage[],
  limits: { maxMessages: number; maxBytes: number },
  nextSeq: () => bigint,
): GroupRecord[] {
  const out: GroupRecord[] = [];
  let start = 0;
  while (start < messages.length) {
    let end = start;
    let estimated = 0;
    while (
      end < messages.length &&
      end - start < limits.maxMessages &&
      (end === start || estimated < limits.maxBytes)
    ) {
      estimated += estimatedBytes(messages[end] as InboundMessage);
      end++;
    }
    const slice = messages.slice(start, end);
    const value = encodeGroup(slice);
    const k: GroupKey = {
      seq: nextSeq(),
      count: slice.length,
      bytes: value.length,
      oldestReceivedAt: (slice[0] as InboundMessage).receivedAt,
    };
    out.push({ key: encodeKey(k), value, group: { ...k, messages: slice }, estimated });
    start = end;
  }
  return out;
}

/** A group's LevelDB key: its own bytes when it holds them (claimed, or replayed as read), else re-encoded. */
export function keyOf(g: Group): Buffer {
  return g.key ?? encodeKey(g);
}

/**
 * The groups a restart replays, rebuilt from the keys alone (oldest first), the next sequence number, and the
 * keys that are not group keys (for the quarantine).
 */
export async function groupsFromKeys(
  keys: AsyncIterable<Uint8Array>,
): Promise<{ groups: Group[]; strays: Buffer[]; nextSeq: bigint }> {
  const groups: Group[] = [];
  const strays: Buffer[] = [];
  let nextSeq = 0n;
  for await (const raw of keys) {
    let k: GroupKey;
    try {
      k = decodeKey(raw);
    } catch {
      strays.push(Buffer.from(raw));
      continue;
    }
    groups.push(encodeKey(k).equals(raw) ? k : { ...k, key: ownedKey(raw) });
    if (k.seq >= nextSeq) nextSeq = k.seq + 1n;
  }
  return { groups, strays, nextSeq };
}
