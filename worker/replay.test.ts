// The replay's decisions with in-memory stages (the real-service test is test/integration/worker/replay.test.ts):
// what is written, stored again as a dead letter, and deleted, and in which order.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import type { InboundMessage } from './message.ts';
import { emptySummary, type ReplaySink, replayDeadLetters } from './replay.ts';
import type { Row } from './rows.ts';
import type { DeadLetter } from './stages.ts';

const msg = (n: number): InboundMessage => ({
  topic: `t/${n}`,
  payload: Buffer.from(String(n)),
  receivedAt: 0,
  qos: 1,
  dup: false,
});
const toRows = (ms: InboundMessage[]): Row[] =>
  ms.map((message) => ({ kind: 'route', message, route: 'r', line: `${message.payload}\n` }));

/** A table refusing the rows whose payload is in `poison` (SQLSTATE 22003), or failing whole (`down`). */
function table(poison: Set<string>, events: string[], o: { down?: boolean } = {}): ReplaySink & { stored: string[] } {
  const stored: string[] = [];
  return {
    stored,
    async write(rows, before) {
      if (o.down) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
      if (rows.some((r) => poison.has(r.message.payload.toString())))
        throw Object.assign(new Error('value overflows'), { code: '22003' });
      await before?.({} as pg.ClientBase);
      stored.push(...rows.map((r) => r.message.payload.toString()));
      events.push(`commit ${rows.length}`);
    },
  };
}

const batch = (n: number) => ({
  key: 'k1',
  messages: Array.from({ length: n }, (_, i) => msg(i)),
  attempts: Array.from({ length: n }, () => 2),
  badLines: 0,
});

test('rows still rejected are stored again (attempts + 1) before the object is deleted; the others committed first', async () => {
  const events: string[] = [];
  const sink = table(new Set(['3']), events);
  const letters: DeadLetter[] = [];
  const s = emptySummary(false);
  await replayDeadLetters(
    batch(8),
    {
      toRows,
      sink,
      store: {
        put: async (l) => {
          letters.push(...l);
          events.push('put');
          return 'k2';
        },
      },
      deleteObject: async (k) => {
        events.push(`delete ${k}`);
      },
      dryRun: false,
    },
    s,
  );
  assert.deepEqual(sink.stored.sort(), ['0', '1', '2', '4', '5', '6', '7']);
  assert.deepEqual(
    letters.map((l) => [l.message.topic, l.sqlstate, l.attempts]),
    [['t/3', '22003', 3]],
  );
  assert.deepEqual(events.slice(-2), ['put', 'delete k1']);
  assert.deepEqual(
    { stored: s.stored, stillRejected: s.stillRejected, deleted: s.deleted },
    { stored: 7, stillRejected: 1, deleted: 1 },
  );
});

test('a failing table stops the replay: nothing deleted, nothing stored again', async () => {
  const events: string[] = [];
  await assert.rejects(
    replayDeadLetters(
      batch(4),
      {
        toRows,
        sink: table(new Set(), events, { down: true }),
        store: { put: async () => assert.fail('no put') },
        deleteObject: async () => assert.fail('no delete'),
        dryRun: false,
      },
      emptySummary(false),
    ),
    /connection refused/,
  );
});

test('a dry run rolls every write back and deletes nothing, yet counts what would be stored', async () => {
  const events: string[] = [];
  const sink = table(new Set(['1']), events);
  const s = emptySummary(true);
  await replayDeadLetters(
    batch(4),
    {
      toRows,
      sink,
      store: { put: async () => assert.fail('no put') },
      deleteObject: async () => assert.fail('no delete'),
      dryRun: true,
    },
    s,
  );
  assert.deepEqual(sink.stored, [], 'rolled back');
  assert.deepEqual(
    { stored: s.stored, stillRejected: s.stillRejected, deleted: s.deleted },
    { stored: 3, stillRejected: 1, deleted: 0 },
  );
});

test('an object with lines that are not dead letters is kept after its rows are stored', async () => {
  const sink = table(new Set(), []);
  const s = emptySummary(false);
  await replayDeadLetters(
    { ...batch(2), badLines: 1 },
    { toRows, sink, store: { put: async () => 'x' }, deleteObject: async () => assert.fail('kept'), dryRun: false },
    s,
  );
  assert.deepEqual(
    { stored: s.stored, badLines: s.badLines, deleted: s.deleted },
    { stored: 2, badLines: 1, deleted: 0 },
  );
});
