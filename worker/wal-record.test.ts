import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InboundMessage } from './message.ts';
import { decodeGroup, decodeKey, encodeGroup, encodeKey } from './wal-record.ts';

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
