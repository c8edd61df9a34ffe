// The flusher pool's rejected rows, against in-memory stages (test/lib/flusher-stages.ts): a row PostgreSQL
// refuses is isolated by splitting its batch and dead-lettered (or kept in the unparseable table), while a
// refusal of every row (a missing partition, stack depth on every row) is the table's fault and retried; a
// dead-letter store that is down holds back neither the good rows nor the flushers. The same against real
// PostgreSQL and MinIO: test/integration/worker/{delivery,outages}.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  append,
  codeError,
  counter,
  idOf,
  ids,
  MemoryDeadLetters,
  range,
  setup,
  until,
} from '../test/lib/flusher-stages.ts';
import type { Row } from './rows.ts';
import { Wal } from './wal.ts';

test('a bad row is isolated by splitting the batch: exactly the bad rows are dead-lettered, neighbours commit', async (t) => {
  const dlq = new MemoryDeadLetters();
  const { wal, table, metrics, pool } = await setup(t, {}, { deadLetters: dlq });
  const bad = [5, 6, 40];
  await append(wal, range(0, 64), bad);
  pool.setCount(1);
  await until('the WAL is empty', () => wal.messages === 0);

  assert.deepEqual(
    ids(table.telemetry),
    range(0, 64).filter((id) => !bad.includes(id)),
    'each good row once',
  );
  assert.deepEqual(table.unparseable, []);
  assert.deepEqual(ids(dlq.stored), bad);
  for (const letter of dlq.stored) {
    assert.equal(letter.sqlstate, '22003');
    assert.match(letter.error, /value overflows numeric format/);
    assert.equal(letter.attempts, 7, 'the batch of 64, then halves down to the single row');
  }
  assert.ok(table.attempts.length < 64, `split in halves, not retried row by row (${table.attempts.length} writes)`);
  assert.equal(await counter(metrics.flushedRows), 61);
  assert.equal(await counter(metrics.deadLetters, { sqlstate_class: '22' }), 3);
});

test('without a dead-letter store, a rejected row is kept in the unparseable table with its SQLSTATE', async (t) => {
  const { wal, table, pool } = await setup(t);
  await append(wal, range(0, 10), [2]);
  pool.setCount(1);
  await until('the WAL is empty', () => wal.messages === 0);

  assert.deepEqual(ids(table.telemetry), [0, 1, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(table.unparseable.length, 1);
  const [kept] = table.unparseable;
  assert.equal(kept && idOf(kept.message), 2);
  assert.equal(kept?.reason, 'rejected');
  assert.match(kept?.detail ?? '', /^22003 value overflows numeric format/);
});

test('while the dead-letter store fails the rejected rows stay in the WAL; they are retried, then delivered once', async (t) => {
  const dlq = new MemoryDeadLetters();
  dlq.outage = codeError('connect ECONNREFUSED 127.0.0.1:9000', 'ECONNREFUSED');
  const { wal, table, metrics, pool } = await setup(t, {}, { deadLetters: dlq });
  await append(wal, range(0, 20), [3, 17]);
  pool.setCount(1);
  await until('three failed PUTs', () => dlq.puts >= 3);

  assert.equal(wal.messages, 2, 'the rejected rows stay in the WAL until their dead letters are stored');
  assert.deepEqual(dlq.stored, []);
  assert.equal(table.telemetry.length, 18, 'the good neighbours are committed meanwhile');
  assert.match(pool.lastError ?? '', /^s3: connect ECONNREFUSED/);
  assert.equal((await metrics.pendingDeadLetters.get()).values[0]?.value, 2);
  assert.match(pool.notes ?? '', /^2 dead letters wait for the dead-letter store \(connect ECONNREFUSED/);
  assert.equal(pool.healthy, true, 'readiness does not depend on S3');

  dlq.outage = undefined;
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(dlq.stored), [3, 17]);
  assert.deepEqual(
    ids(table.telemetry),
    range(0, 20).filter((id) => id !== 3 && id !== 17),
    'not written twice',
  );
  assert.ok((await counter(metrics.retries, { target: 's3' })) >= 3);
});

const noPartition = () => codeError('no partition of relation "t" found for row', '23514');

test('a missing partition refuses every row: nothing is dead-lettered, the pool reports 23514, rows land once it exists', async (t) => {
  const dlq = new MemoryDeadLetters();
  const { wal, table, metrics, pool } = await setup(t, {}, { deadLetters: dlq });
  table.refuse = (rows) => (rows.some((r) => r.kind === 'telemetry') ? noPartition() : undefined);
  await append(wal, range(0, 40));
  pool.setCount(2);
  await until('ten failed writes', () => table.attempts.length >= 10);
  assert.ok(table.attempts.length < 40, 'retried whole, not split into single rows');
  assert.equal(dlq.puts, 0);
  assert.equal(pool.healthy, false);
  assert.match(
    pool.problem ?? '',
    /no partition of relation "t" found for row \(23514\): no partition .* create the partition/,
  );
  const blocked = (await metrics.sinkBlocked.get()).values;
  assert.deepEqual(
    blocked.map((v) => [v.labels.sqlstate, v.value]),
    [['23514', 1]],
  );

  table.refuse = undefined;
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(table.telemetry), range(0, 40));
  assert.equal(dlq.puts, 0);
  assert.equal(pool.healthy, true);
  assert.deepEqual((await metrics.sinkBlocked.get()).values, []);
});

test('a CHECK constraint (23514 naming it) is the row: split and dead-lettered', async (t) => {
  const dlq = new MemoryDeadLetters();
  const { wal, table, pool } = await setup(t, {}, { deadLetters: dlq });
  table.refuse = (rows) =>
    rows.some((r) => idOf(r.message) === 7)
      ? Object.assign(codeError('new row violates check constraint "c"', '23514'), { constraint: 'c' })
      : undefined;
  await append(wal, range(0, 20));
  pool.setCount(1);
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(dlq.stored), [7]);
  assert.equal(table.telemetry.length, 19);
});

test('stack depth (54001): alone among rows the table takes, the row; on every row, the table (retried, kept)', async (t) => {
  const dlq = new MemoryDeadLetters();
  const { wal, table, pool } = await setup(t, {}, { deadLetters: dlq });
  const deep = (rows: Row[]) => rows.some((r) => idOf(r.message) % 10 === 3);
  table.refuse = (rows) => (deep(rows) ? codeError('stack depth limit exceeded', '54001') : undefined);
  await append(wal, range(0, 20));
  pool.setCount(1);
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(dlq.stored), [3, 13], 'isolated next to rows the table took');

  // Every row fails alone the same way: the server's limit, not the rows.
  table.refuse = () => codeError('stack depth limit exceeded', '54001');
  await append(wal, range(20, 4));
  await until('several rounds of retries', () => table.attempts.length > 40);
  assert.deepEqual(ids(dlq.stored), [3, 13], 'nothing more dead-lettered');
  assert.match(pool.problem ?? '', /54001.*max_stack_depth/);
  table.refuse = undefined;
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(
    ids(table.telemetry),
    range(0, 24).filter((id) => id !== 3 && id !== 13),
  );
});

test('with the dead-letter store down, a poison row in every batch holds back neither the good rows nor the flushers', async (t) => {
  const dlq = new MemoryDeadLetters();
  dlq.outage = codeError('connect ECONNREFUSED 127.0.0.1:9000', 'ECONNREFUSED');
  // Batches of 10 (groups of 10), one poison row in each, two flushers.
  const { wal, table, pool } = await setup(t, { batchSize: 10 }, { deadLetters: dlq, wal: { maxGroupMessages: 10 } });
  const poison = range(0, 8).map((b) => b * 10 + 4);
  for (let b = 0; b < 8; b++) await append(wal, range(b * 10, 10), poison);
  pool.setCount(2);
  // Only the poison rows wait in the WAL; every good row is committed.
  await until('the good rows committed and deleted', () => table.telemetry.length === 72 && wal.messages === 8);
  assert.deepEqual(dlq.stored, []);

  dlq.outage = undefined;
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(dlq.stored), poison, 'each poison row dead-lettered once');
  assert.deepEqual(
    ids(table.telemetry),
    range(0, 80).filter((id) => !poison.includes(id)),
  );
});

test('dead letters still waiting at stop go back to the WAL on disk, for the next start', async (t) => {
  const dlq = new MemoryDeadLetters();
  dlq.outage = codeError('connect ECONNREFUSED 127.0.0.1:9000', 'ECONNREFUSED');
  const { dir, wal, table, pool } = await setup(t, {}, { deadLetters: dlq });
  await append(wal, range(0, 10), [2]);
  pool.setCount(1);
  await until('the good rows committed', () => table.telemetry.length === 9);
  await until('a retried PUT', () => dlq.puts >= 2);
  await pool.stop();
  await wal.close();
  const reopened = await Wal.open({ dir, sizeLimitBytes: 64 * 2 ** 20, retentionMs: 3_600_000 });
  t.after(() => reopened.close());
  const claim = await reopened.claim(100);
  assert.deepEqual(claim?.messages.map(idOf), [2], 'only the rejected row is left');
});
