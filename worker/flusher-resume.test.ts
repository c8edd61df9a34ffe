// After an outage, every flusher drains again as soon as one write succeeds. Each flusher backs off on its
// own, and after a long outage its delay is near spec.flusher.retry.maxBackoff (30 s by default): without a
// wake-up, the first flusher to retry found PostgreSQL back and drained alone (about 0.65 × the rate of two
// on the bench, docs/benchmarks.md "Drain") while the others slept out their delay.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createLogger } from '../common/logger.ts';
import { eventually } from '../test/lib/eventually.ts';
import { FlusherPool } from './flusher.ts';
import { WorkerMetrics } from './metrics.ts';
import type { Row } from './rows.ts';
import type { RowSink } from './stages.ts';
import { Wal } from './wal.ts';

const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-flusher-resume-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const DEVICE = '550e8400-e29b-41d4-a716-446655440000';
const BACKOFF_MS = 3000;

test('one write succeeding after an outage wakes the flushers backing off: they retry at once', async () => {
  const wal = await Wal.open({ dir, sizeLimitBytes: 2 ** 26, retentionMs: 3_600_000, maxGroupMessages: 100 });
  for (let i = 0; i < 200; i++) {
    const payload = Buffer.from(`{"id":${i}}`);
    wal.append({ topic: `t/acme/d/${DEVICE}/evt/x`, payload, receivedAt: Date.now(), qos: 1, dup: false });
  }
  await wal.settled();
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
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
        }
        committed.push(...rows);
      },
      close: async () => {},
    },
  ];
  const pool = new FlusherPool(
    {
      batchSize: 100,
      batchBytes: 2 ** 20,
      flushIntervalMs: 0,
      initialBackoffMs: BACKOFF_MS,
      maxBackoffMs: BACKOFF_MS,
      payloadFormat: 'json',
      limits: { maxPayloadSizeBytes: 2 ** 16, maxJsonDepth: 64 },
    },
    {
      source: wal,
      newSink: (i) => sinks[i] as RowSink,
      deadLetters: undefined,
      metrics: new WorkerMetrics('test', () => wal),
      log: createLogger('silent'),
    },
  );
  const started = performance.now();
  pool.setCount(2);
  try {
    await eventually(async () => assert.equal(wal.messages, 0), { what: 'the WAL drained', timeoutMs: 5000 });
    const ms = performance.now() - started;
    assert.equal(committed.length, 200);
    assert.ok(ms < BACKOFF_MS / 4, `drained in ${Math.round(ms)} ms: flusher 1 slept out its backoff`);
  } finally {
    await pool.stop();
    await wal.close();
  }
});
