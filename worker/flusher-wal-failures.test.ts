// The flusher pool when the WAL itself fails (a LevelDB read error in claim(), a failed delete in commit()):
// those calls sit outside the write's own retries, and a rejection there used to end the flusher with an
// unhandled rejection, which kills the worker, on every replay. They are retried with backoff instead.
// In-memory stages: test/lib/flusher-stages.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { append, counter, failingWal, ids, range, setup, until } from '../test/lib/flusher-stages.ts';

test('a failing claim or commit is retried with backoff; the flusher keeps running and every message lands', async (t) => {
  const { wal, table, metrics, pool } = await setup(
    t,
    { batchSize: 20, flushIntervalMs: 10, initialBackoffMs: 5, maxBackoffMs: 20 },
    { wal: { maxGroupMessages: 10 }, source: (w) => failingWal(w, { claims: 2, commits: 1 }) },
  );
  await append(wal, range(0, 100));
  pool.setCount(2);
  await until('the WAL drained', () => wal.messages === 0);

  assert.deepEqual(
    new Set(ids(table.telemetry)),
    new Set(range(0, 100)),
    'every message was written (a replayed commit may write some twice)',
  );
  assert.equal(await counter(metrics.retries, { target: 'wal' }), 3);
  assert.equal(pool.healthy, true, 'healthy again once the WAL answers');
});
