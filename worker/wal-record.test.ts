import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InboundMessage } from './message.ts';
import { decodeGroup, decodeKey, encodeGroup, encodeKey, WalRecordError } from './wal-record.ts';

test('a group of messages survives encoding byte for byte', () => {
  const messages: InboundMessage[] = [
    { topic: 't/a/d/x/evt/é', payload: Buffer.from([0, 1, 2, 255]), receivedAt: 1763900000123.5, qos: 1, dup: false },
    {
      topic: 'x',
      payload: Buffer.alloc(0),
      receivedAt: 1,
      qos: 0,
      dup: true,
      userProperties: { k: 'v', m: ['1', '2'] },
    },
    { topic: 't/'.repeat(300), payload: Buffer.alloc(70_000, 7), receivedAt: 2, qos: 1, dup: true },
  ];
  assert.deepEqual(decodeGroup(encodeGroup(messages)), messages);
});

test('keys sort by sequence and carry what the index needs', () => {
  const k = { seq: 2n ** 40n + 3n, count: 1000, bytes: 123_456, oldestReceivedAt: 1763900000000 };
  assert.deepEqual(decodeKey(encodeKey(k)), k);
  const a = encodeKey({ ...k, seq: 255n });
  const b = encodeKey({ ...k, seq: 256n, count: 0 });
  assert.ok(Buffer.compare(a, b) < 0);
});

test('a record from an unknown format version is refused with a clear error', () => {
  const bad = encodeGroup([]);
  bad[0] = 9;
  assert.throws(() => decodeGroup(bad), /version 9 is not supported/);
});

test('a record damaged on disk fails its checksum instead of decoding into other messages', () => {
  const m: InboundMessage = { topic: 't/a', payload: Buffer.from('{"v":1}'), receivedAt: 5, qos: 1, dup: false };
  const good = encodeGroup([m, m]);
  const flipped = Buffer.from(good);
  flipped.writeUInt8((flipped.at(-2) as number) ^ 1, flipped.length - 2); // inside the second payload: still well-formed, only the checksum sees it
  assert.throws(() => decodeGroup(flipped), WalRecordError);
  assert.throws(() => decodeGroup(good.subarray(0, 3)), /truncated/);
});

test('records written by the previous format version (u16 topic length, no checksum) still replay', () => {
  const topic = Buffer.from('t/acme/d/x/evt/é');
  const payload = Buffer.from([1, 2, 3]);
  const v1 = Buffer.alloc(1 + 8 + 1 + 2 + topic.length + 4 + payload.length);
  let o = 0;
  v1[o++] = 1;
  o = v1.writeDoubleBE(42, o);
  v1[o++] = 3;
  o = v1.writeUInt16BE(topic.length, o);
  o += topic.copy(v1, o);
  o = v1.writeUInt32BE(payload.length, o);
  payload.copy(v1, o);
  assert.deepEqual(decodeGroup(v1), [{ topic: topic.toString(), payload, receivedAt: 42, qos: 1, dup: true }]);
});

test('content types survive (version 3); a group without any is written as version 2, as before routes', () => {
  const plain: InboundMessage = { topic: 'a', payload: Buffer.from('x'), receivedAt: 1, qos: 1, dup: false };
  assert.equal(encodeGroup([plain])[0], 2);
  const typed: InboundMessage[] = [
    { ...plain, contentType: 'application/json', userProperties: { k: 'v' } },
    plain,
    { ...plain, contentType: '' },
  ];
  const record = encodeGroup(typed);
  assert.equal(record[0], 3);
  assert.deepEqual(decodeGroup(record), typed);
});
