import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accountTopics, type TopicLedger } from './topic-ledger.ts';

const ledgerOf = (table: number[], unparseable: number[], dlq: number[]): TopicLedger => ({
  count: table.length,
  table: Uint16Array.from(table),
  unparseable: Uint16Array.from(unparseable),
  dlq: Uint16Array.from(dlq),
  reasons: new Map(),
  sqlstates: new Map(),
});

test('each acknowledged message is counted once by its place; losses, double placements and copies are told apart', () => {
  //                   0  1  2  3  4  5  6
  const l = ledgerOf([1, 0, 0, 2, 1, 0, 1], [0, 1, 0, 0, 1, 0, 0], [0, 0, 1, 0, 0, 0, 0]);
  const acked = Uint8Array.from([1, 1, 1, 1, 1, 1, 0]);
  const a = accountTopics(l, acked);
  assert.equal(a.acknowledged, 6);
  assert.deepEqual(a.byPlace, { table: 2, unparseable: 1, dlq: 1 });
  assert.equal(a.stored, 4);
  assert.deepEqual(a.lost, [5]);
  assert.deepEqual(a.inSeveral, [4], 'in the table and the unparseable table: a breach, not a duplicate');
  assert.equal(a.duplicates, 2, 'the second copy of 3 and the second place of 4');
  assert.equal(a.storedUnacknowledged, 1, 'the broker took 6 but its PUBACK never came: allowed');
});
