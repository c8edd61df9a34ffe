import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InboundMessage } from './message.ts';
import { estimatedBytes, groupsFromKeys, keyOf, splitIntoGroups } from './wal-groups.ts';
import { decodeGroup, encodeKey } from './wal-record.ts';

const msg = (i: number, bytes = 10): InboundMessage => ({
  topic: `t/${i}`,
  payload: Buffer.alloc(bytes, i),
  receivedAt: 1000 + i,
  qos: 1,
  dup: false,
});

function counter(from = 0n) {
  let n = from;
  return () => n++;
}

test('messages are cut into groups in order, within the message bound, numbered from the counter', () => {
  const messages = Array.from({ length: 7 }, (_, i) => msg(i));
  const records = splitIntoGroups(messages, { maxMessages: 3, maxBytes: 1 << 20 }, counter(5n));
  assert.deepEqual(
    records.map((r) => [r.group.seq, r.group.count, r.group.oldestReceivedAt]),
    [
      [5n, 3, 1000],
      [6n, 3, 1003],
      [7n, 1, 1006],
    ],
  );
  assert.deepEqual(
    records.flatMap((r) => decodeGroup(r.value)),
    messages,
    'every message once, in order',
  );
  for (const r of records) {
    assert.equal(r.group.bytes, r.value.length, 'the key carries the record size');
    assert.deepEqual(r.key, keyOf(r.group));
  }
});

test('the byte bound closes a group once reached, and a message larger than it still gets a group', () => {
  const messages = [msg(0, 100), msg(1, 100), msg(2, 5000), msg(3, 100)];
  const maxBytes = estimatedBytes(msg(0, 100)) + 1;
  const records = splitIntoGroups(messages, { maxMessages: 100, maxBytes }, counter());
  assert.deepEqual(
    records.map((r) => r.group.count),
    [2, 1, 1],
  );
  assert.equal(
    records.reduce((n, r) => n + r.estimated, 0),
    messages.reduce((n, m) => n + estimatedBytes(m), 0),
    'the estimates add up to what append counted',
  );
});

test('a restart rebuilds the groups from their keys, continues the sequence, and sets stray keys aside', async () => {
  const a = { seq: 3n, count: 2, bytes: 40, oldestReceivedAt: 1 };
  const b = { seq: 9n, count: 1, bytes: 20, oldestReceivedAt: 2 };
  async function* keys() {
    yield encodeKey(a);
    yield Buffer.from('not a key');
    yield encodeKey(b);
  }
  const { groups, strays, nextSeq } = await groupsFromKeys(keys());
  assert.deepEqual(groups, [a, b]);
  assert.deepEqual(strays, [Buffer.from('not a key')]);
  assert.equal(nextSeq, 10n);
});
