// The flusher pool against in-memory stages behind its interfaces (stages.ts, test/lib/flusher-stages.ts):
// retries and backoff, drain, stop, the live flusher count and batch triggers. The claim source is the real
// WAL on a temporary directory: what "nothing deleted" means is then checked on the store the worker really
// uses. Which rows are rejected and where they go: flusher-rejects.test.ts. The same behaviour against real
// PostgreSQL, PgBouncer and MinIO: test/integration/worker/{delivery,outages}.test.ts.

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
import { Wal } from './wal.ts';

test('connection and server errors are retried with growing backoff until they pass, and never dead-lettered', async (t) => {
  const dlq = new MemoryDeadLetters();
  const initialMs = 8;
  const maxMs = 64;
  const { wal, table, metrics, pool } = await setup(
    t,
    { initialBackoffMs: initialMs, maxBackoffMs: maxMs },
    { deadLetters: dlq },
  );
  table.outage = codeError('terminating connection due to administrator command', '57P01');
  await append(wal, range(0, 20));
  pool.setCount(1);
  await until('three failed writes', () => table.attempts.length >= 3);
  assert.equal(pool.healthy, false, 'readiness reports the failing writes');
  assert.match(pool.problem ?? '', /last write failed: postgres: terminating connection/);
  table.outage = codeError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');
  await until('five failed writes', () => table.attempts.length >= 5);

  table.outage = undefined;
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(table.telemetry), range(0, 20), 'every row once');
  assert.equal(dlq.puts, 0, 'an outage is never the rows’ fault');
  assert.deepEqual(table.unparseable, []);
  assert.equal(pool.healthy, true);
  const failures = table.attempts.length - 1;
  assert.equal(await counter(metrics.retries, { target: 'postgres' }), failures);
  // Retry k waits at least half its ceiling min(max, initial·2^k) (jitter only shortens, by half at most).
  for (let k = 0; k < failures; k++) {
    const gap = (table.attempts[k + 1] as number) - (table.attempts[k] as number);
    const floor = Math.min(maxMs, initialMs * 2 ** k) / 2;
    assert.ok(gap >= floor - 2, `retry ${k} came after ${gap.toFixed(1)} ms, before its backoff of ≥ ${floor} ms`);
  }
});

test('drain flushes everything claimed or waiting at once, ignoring the flush interval', async (t) => {
  const { wal, table, pool } = await setup(t, { flushIntervalMs: 3_600_000 });
  for (const from of [0, 10, 20]) await append(wal, range(from, 10));
  pool.setCount(2);
  assert.equal(await pool.drain(Date.now() + 10_000), 0, 'nothing left in the WAL');
  assert.deepEqual(ids(table.telemetry), range(0, 30));
  await pool.stop();
  assert.equal(table.closed, 2, 'every flusher closed its connection');
});

test('stopping while PostgreSQL is down hands the claimed batch back to the WAL, which keeps it on disk', async (t) => {
  const { dir, wal, table, pool } = await setup(t);
  table.outage = codeError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');
  await append(wal, range(0, 10));
  pool.setCount(1);
  await until('two failed writes', () => table.attempts.length >= 2);
  assert.equal(await pool.drain(Date.now() + 20), 10, 'the drain deadline passes with the rows still held');
  await pool.stop();
  assert.equal(wal.available, 10, 'released, claimable again');
  await wal.close();

  const reopened = await Wal.open({ dir, sizeLimitBytes: 64 * 2 ** 20, retentionMs: 3_600_000 });
  t.after(() => reopened.close());
  assert.equal(reopened.messages, 10);
  const claim = await reopened.claim(100);
  assert.deepEqual(claim?.messages.map(idOf), range(0, 10), 'in order, for the next start');
});

test('stop cuts a write that hangs (a locked table) by closing its sink: bounded, and the batch goes back to the WAL', async (t) => {
  const { wal, table, pool } = await setup(t);
  table.hang = true;
  await append(wal, range(0, 10));
  pool.setCount(1);
  await until('a write in flight', () => table.inFlight === 1);
  const started = performance.now();
  await pool.stop(50);
  const took = performance.now() - started;
  assert.ok(took < 2000, `stop took ${Math.round(took)} ms with a write hanging`);
  assert.equal(table.inFlight, 0, 'the hung write was cut');
  assert.equal(table.telemetry.length, 0);
  assert.equal(wal.available, 10, 'released, claimable again');
});

test('a drain that waits on a source that does not commit adds no listener per turn', async (t) => {
  const { wal, table, pool } = await setup(t);
  table.outage = codeError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');
  await append(wal, range(0, 10));
  pool.setCount(1);
  const before = wal.listenerCount('committed');
  assert.equal(await pool.drain(Date.now() + 800), 10, 'several 250 ms turns, nothing committed');
  assert.equal(wal.listenerCount('committed'), before);
});

test('the flusher count changes live: new flushers write at once, surplus ones finish their batch and close', async (t) => {
  // Groups of 5 and batches of 5: each flusher holds one group at a time.
  const { wal, table, metrics, pool } = await setup(t, { batchSize: 5 }, { wal: { maxGroupMessages: 5 } });
  table.hold();
  await append(wal, range(0, 40));
  pool.setCount(3);
  assert.equal(pool.count, 3);
  await until('three writes in flight at once', () => table.inFlight === 3);
  assert.equal((await metrics.activeFlushers.get()).values[0]?.value, 3);

  pool.setCount(1);
  assert.equal(pool.count, 1);
  assert.equal((await metrics.activeFlushers.get()).values[0]?.value, 1);
  table.release();
  await until('the WAL is empty', () => wal.messages === 0);
  await until('two flushers stopped', () => table.closed === 2);
  assert.deepEqual(ids(table.telemetry), range(0, 40), 'the retired flushers committed their batches, once');

  pool.setCount(2);
  assert.equal(table.opened, 4, 'one new flusher (and its connection) next to the remaining one');
  table.hold();
  await append(wal, range(40, 10));
  await until('both flushers writing', () => table.inFlight === 2);
  table.release();
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(table.telemetry), range(0, 50));
  await pool.stop();
  assert.equal(table.closed, 4);
});

test('batchBytes of waiting messages starts a batch without waiting for the flush interval', async (t) => {
  const { wal, table, pool } = await setup(t, { flushIntervalMs: 60_000, batchBytes: 1024 });
  await append(wal, range(0, 30));
  assert.ok(wal.availableBytes >= 1024 && wal.available < 1000, 'over the byte bound, under the row bound');
  pool.setCount(1);
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(table.telemetry), range(0, 30));
});

/** PostgreSQL's refusal of a row no partition takes: 23514 without a constraint name. */
