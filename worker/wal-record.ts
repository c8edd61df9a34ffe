// Binary layout of one WAL record: a group of messages made durable by one synced write. Storing groups
// rather than single messages is what makes fsync-before-PUBACK affordable (one LevelDB record per
// message tops out near 60k/s here; per group of 100, above 140k/s).
//
// key   = seq u64 | count u32 | bytes u32 | oldestReceivedAt f64   (listing keys alone rebuilds the index)
// value = version u8 (2, or 3 when a message has a content type) | crc32 u32 of the rest, then per message:
//         receivedAt f64 | flags u8 (bit0 qos1, bit1 dup, bit2 has user properties, bit3 has content type) |
//         topic u32+bytes | payload u32+bytes | [user properties u32+JSON bytes] | [content type u32+bytes]
//
// Version 3 is the layout of version 2 with bit 3; a group without content types is still written as version
// 2, so a worker rolled back to a version before routes reads it (spec.routes' contentType columns need 3).
//
// Version 1 (read, never written) had no checksum and a u16 topic length: a topic the broker forwarded as
// invalid UTF-8 is decoded with U+FFFD for each bad byte (3 bytes in UTF-8), so a legal 64 KiB topic can
// re-encode to 192 KiB, and the write threw before the PUBACK, for every redelivery. The checksum makes a
// record damaged on disk fail to decode instead of turning into other messages; wal.ts then moves it aside.

import { crc32 } from 'node:zlib';
import type { InboundMessage } from './message.ts';

const VERSION = 2;
const V3 = 3;
const V1 = 1;
const HEADER_BYTES = 5;
export const KEY_BYTES = 24;

export interface GroupKey {
  seq: bigint;
  count: number;
  bytes: number;
  oldestReceivedAt: number;
}

/** A record or key that cannot be decoded: damaged on disk, or not written by this log. */
export class WalRecordError extends Error {
  override name = 'WalRecordError';
}

/**
 * A key lives as long as its group is on disk: it gets its own memory (Buffer.alloc is never cut from Node's
 * shared 8 KiB pool, whose slab a single live slice keeps whole).
 */
export function encodeKey(k: GroupKey): Buffer {
  const b = Buffer.alloc(KEY_BYTES);
  b.writeBigUInt64BE(k.seq, 0);
  b.writeUInt32BE(k.count, 8);
  b.writeUInt32BE(k.bytes, 12);
  b.writeDoubleBE(k.oldestReceivedAt, 16);
  return b;
}

export function decodeKey(b: Uint8Array): GroupKey {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length !== KEY_BYTES) throw new WalRecordError(`WAL key of ${buf.length} bytes is not a group key`);
  return {
    seq: buf.readBigUInt64BE(0),
    count: buf.readUInt32BE(8),
    bytes: buf.readUInt32BE(12),
    oldestReceivedAt: buf.readDoubleBE(16),
  };
}

export function encodeGroup(messages: InboundMessage[]): Buffer {
  const topics: Buffer[] = new Array(messages.length);
  const props: Array<Buffer | undefined> = new Array(messages.length);
  const types: Array<Buffer | undefined> = new Array(messages.length);
  let size = HEADER_BYTES;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as InboundMessage;
    const t = Buffer.from(m.topic, 'utf8');
    topics[i] = t;
    const p = m.userProperties ? Buffer.from(JSON.stringify(m.userProperties), 'utf8') : undefined;
    props[i] = p;
    const ct = m.contentType !== undefined ? Buffer.from(m.contentType, 'utf8') : undefined;
    types[i] = ct;
    size += 8 + 1 + 4 + t.length + 4 + m.payload.length + (p ? 4 + p.length : 0) + (ct ? 4 + ct.length : 0);
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = types.some((ct) => ct !== undefined) ? V3 : VERSION;
  let o = HEADER_BYTES;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as InboundMessage;
    const t = topics[i] as Buffer;
    const p = props[i];
    const ct = types[i];
    o = out.writeDoubleBE(m.receivedAt, o);
    out[o++] = (m.qos === 1 ? 1 : 0) | (m.dup ? 2 : 0) | (p ? 4 : 0) | (ct ? 8 : 0);
    o = out.writeUInt32BE(t.length, o);
    o += t.copy(out, o);
    o = out.writeUInt32BE(m.payload.length, o);
    o += m.payload.copy(out, o);
    if (p) {
      o = out.writeUInt32BE(p.length, o);
      o += p.copy(out, o);
    }
    if (ct) {
      o = out.writeUInt32BE(ct.length, o);
      o += ct.copy(out, o);
    }
  }
  out.writeUInt32BE(crc32(out.subarray(HEADER_BYTES)), 1);
  return out;
}

/** The messages of a record; throws WalRecordError for one that is damaged or of an unknown version. */
export function decodeGroup(value: Uint8Array): InboundMessage[] {
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const version = b[0];
  let o: number;
  if (version === VERSION || version === V3) {
    if (b.length < HEADER_BYTES) throw new WalRecordError(`WAL record of ${b.length} bytes is truncated`);
    if (crc32(b.subarray(HEADER_BYTES)) !== b.readUInt32BE(1))
      throw new WalRecordError('WAL record checksum mismatch: its bytes were damaged on disk');
    o = HEADER_BYTES;
  } else if (version === V1) {
    o = 1;
  } else {
    throw new WalRecordError(
      `WAL record version ${version} is not supported by this worker (expects ${VERSION} or ${V3})`,
    );
  }
  const topicLengthBytes = version === V1 ? 2 : 4;
  const need = (n: number) => {
    if (o + n > b.length)
      throw new WalRecordError(`WAL record is truncated: ${n} bytes needed at offset ${o} of ${b.length}`);
  };
  const out: InboundMessage[] = [];
  while (o < b.length) {
    need(9 + topicLengthBytes);
    const receivedAt = b.readDoubleBE(o);
    o += 8;
    const flags = b[o++] as number;
    const tl = version === V1 ? b.readUInt16BE(o) : b.readUInt32BE(o);
    o += topicLengthBytes;
    need(tl + 4);
    const topic = b.toString('utf8', o, o + tl);
    o += tl;
    const pl = b.readUInt32BE(o);
    o += 4;
    need(pl);
    // A view, not a copy: decoded groups are read back from disk for one batch and dropped with it.
    const payload = b.subarray(o, o + pl);
    o += pl;
    const m: InboundMessage = { topic, payload, receivedAt, qos: flags & 1 ? 1 : 0, dup: (flags & 2) !== 0 };
    if (flags & 4) {
      need(4);
      const jl = b.readUInt32BE(o);
      o += 4;
      need(jl);
      try {
        m.userProperties = JSON.parse(b.toString('utf8', o, o + jl));
      } catch (err) {
        throw new WalRecordError(`WAL record holds unreadable user properties: ${(err as Error).message}`);
      }
      o += jl;
    }
    if (version === V3 && flags & 8) {
      need(4);
      const cl = b.readUInt32BE(o);
      o += 4;
      need(cl);
      m.contentType = b.toString('utf8', o, o + cl);
      o += cl;
    }
    out.push(m);
  }
  return out;
}

/** A copy of a key read from LevelDB in memory of its own (see encodeKey). */
export function ownedKey(raw: Uint8Array): Buffer {
  const b = Buffer.alloc(raw.byteLength);
  b.set(raw);
  return b;
}
