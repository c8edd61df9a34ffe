// Binary layout of one WAL record: a group of messages made durable by one synced write. Storing groups
// rather than single messages is what makes fsync-before-PUBACK affordable (one LevelDB record per
// message tops out near 60k/s here; per group of 100, above 140k/s).
//
// key   = seq u64 | count u32 | bytes u32 | oldestReceivedAt f64   (listing keys alone rebuilds the index)
// value = version u8, then per message:
//         receivedAt f64 | flags u8 (bit0 qos1, bit1 dup, bit2 has user properties) | topic u16+bytes |
//         payload u32+bytes | [user properties u32+JSON bytes]

import type { InboundMessage } from './message.ts';

const VERSION = 1;
export const KEY_BYTES = 24;

export interface GroupKey {
  seq: bigint;
  count: number;
  bytes: number;
  oldestReceivedAt: number;
}

export function encodeKey(k: GroupKey): Buffer {
  const b = Buffer.allocUnsafe(KEY_BYTES);
  b.writeBigUInt64BE(k.seq, 0);
  b.writeUInt32BE(k.count, 8);
  b.writeUInt32BE(k.bytes, 12);
  b.writeDoubleBE(k.oldestReceivedAt, 16);
  return b;
}

export function decodeKey(b: Uint8Array): GroupKey {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length !== KEY_BYTES) throw new Error(`WAL key of ${buf.length} bytes is not a group key`);
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
  let size = 1;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as InboundMessage;
    const t = Buffer.from(m.topic, 'utf8');
    topics[i] = t;
    const p = m.userProperties ? Buffer.from(JSON.stringify(m.userProperties), 'utf8') : undefined;
    props[i] = p;
    size += 8 + 1 + 2 + t.length + 4 + m.payload.length + (p ? 4 + p.length : 0);
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = VERSION;
  let o = 1;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as InboundMessage;
    const t = topics[i] as Buffer;
    const p = props[i];
    o = out.writeDoubleBE(m.receivedAt, o);
    out[o++] = (m.qos === 1 ? 1 : 0) | (m.dup ? 2 : 0) | (p ? 4 : 0);
    o = out.writeUInt16BE(t.length, o);
    o += t.copy(out, o);
    o = out.writeUInt32BE(m.payload.length, o);
    o += m.payload.copy(out, o);
    if (p) {
      o = out.writeUInt32BE(p.length, o);
      o += p.copy(out, o);
    }
  }
  return out;
}

export function decodeGroup(value: Uint8Array): InboundMessage[] {
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (b[0] !== VERSION)
    throw new Error(`WAL record version ${b[0]} is not supported by this worker (expects ${VERSION})`);
  const out: InboundMessage[] = [];
  let o = 1;
  while (o < b.length) {
    const receivedAt = b.readDoubleBE(o);
    o += 8;
    const flags = b[o++] as number;
    const tl = b.readUInt16BE(o);
    o += 2;
    const topic = b.toString('utf8', o, o + tl);
    o += tl;
    const pl = b.readUInt32BE(o);
    o += 4;
    // A view, not a copy: decoded groups are read back from disk for one batch and dropped with it.
    const payload = b.subarray(o, o + pl);
    o += pl;
    const m: InboundMessage = { topic, payload, receivedAt, qos: flags & 1 ? 1 : 0, dup: (flags & 2) !== 0 };
    if (flags & 4) {
      const jl = b.readUInt32BE(o);
      o += 4;
      m.userProperties = JSON.parse(b.toString('utf8', o, o + jl));
      o += jl;
    }
    out.push(m);
  }
  return out;
}
