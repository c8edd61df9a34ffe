// After an outage, every flusher drains again as soon as one write succeeds. Each flusher backs off on its
// own, and after a long outage its delay is near spec.flusher.retry.maxBackoff (30 s by default): without a
// wake-up, the first flusher to retry found PostgreSQL back and drained alone (about 0.65 × the rate of two
// on the bench, docs/benchmarks.md "Drain") while the others slept out their delay. In-memory stages:
// test/lib/flusher-stages.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { append, codeError, range, setup, until } from '../test/lib/flusher-stages.ts';
import type { Row } from './rows.ts';
import type { RowSink } from './stages.ts';

const BACKOFF_MS = 3000;

test('one write succeeding after an outage wakes the flushers backing off: they retry at once', async (t) => {
  const committed: Row[] = [];
  let failedOnce!: () => void;
  const flusher1Failed = new Promise<void>((resolve) => {
    failedOnce = resolve;
  });
  // Flusher 1 meets the outage (connection refused) and backs off for 1.5–3 s; flusher 0's write, held until
  // then, finds PostgreSQL back.
  const sinks: RowSink[] = [
    {
      write: async (rows) => {
        await flusher1Failed;
        committed.push(...rows);
      },
      close: async () => {},
    },
    {
      write: async (rows) => {
        if (committed.length === 0) {
          failedOnce();
          throw codeError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');
        }
        committed.push(...rows);
      },
      close: async () => {},
    },
  ];
  const { wal, pool } = await setup(
    t,
    { batchSize: 100, batchBytes: 2 ** 20, initialBackoffMs: BACKOFF_MS, maxBackoffMs: BACKOFF_MS },
    { wal: { maxGroupMessages: 100 }, sink: (i) => sinks[i] as RowSink },
  );
  await append(wal, range(0, 200));
  const started = performance.now();
  pool.setCount(2);
  await until('the WAL drained', () => wal.messages === 0);
  const ms = performance.now() - started;
  assert.equal(committed.length, 200);
  assert.ok(ms < BACKOFF_MS / 4, `drained in ${Math.round(ms)} ms: flusher 1 slept out its backoff`);
});
