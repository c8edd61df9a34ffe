// The flusher pool when the WAL itself fails (a LevelDB read error in claim(), a failed delete in commit()):
// those calls sit outside the write's own retries, and a rejection there used to end the flusher with an
// unhandled rejection, which kills the worker, on every replay. They are retried with backoff instead.

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
import type { ClaimSource } from './stages.ts';
import { type Claim, Wal } from './wal.ts';

const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-flusher-wal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a failing claim or commit is retried with backoff; the flusher keeps running and every message lands', async () => {
  const wal = await Wal.open({ dir, sizeLimitBytes: 2 ** 26, retentionMs: 3_600_000, maxGroupMessages: 10 });
  let claimFailures = 2;
  let commitFailures = 1;
  // The real WAL, with the first calls failing the way a LevelDB I/O error does.
  const source: ClaimSource<Claim> = {
    get available() {
      return wal.available;
    },
    get oldestAvailableAt() {
      return wal.oldestAvailableAt;
    },
    get availableBytes() {
      return wal.availableBytes;
    },
    get messages() {
      return wal.messages;
    },
    claim: (n, bytes) =>
      claimFailures-- > 0 ? Promise.reject(new Error('IO error: read failed')) : wal.claim(n, bytes),
    commit: (c) => (commitFailures-- > 0 ? Promise.reject(new Error('IO error: write failed')) : wal.commit(c)),
    release: (c) => wal.release(c),
    retain: (c, kept) => wal.retain(c, kept),
    on: (event, listener) => wal.on(event, listener),
  };
  const stored: Row[] = [];
  const metrics = new WorkerMetrics('t', () => wal);
  const pool = new FlusherPool(
    {
      batchSize: 20,
      batchBytes: 8 * 2 ** 20,
      flushIntervalMs: 10,
      initialBackoffMs: 5,
      maxBackoffMs: 20,
      payloadFormat: 'json',
      limits: { maxPayloadSizeBytes: 256 * 1024, maxJsonDepth: 64 },
    },
    {
      source,
      newSink: () => ({ write: async (rows) => void stored.push(...rows), close: async () => {} }),
      deadLetters: undefined,
      metrics,
      log: createLogger('silent'),
    },
  );
  const device = '550e8400-e29b-41d4-a716-446655440000';
  for (let i = 0; i < 100; i++)
    wal.append({
      topic: `t/a/d/${device}/evt/x`,
      payload: Buffer.from(JSON.stringify({ id: i })),
      receivedAt: Date.now(),
      qos: 1,
      dup: false,
    });
  await wal.settled();
  pool.setCount(2);
  try {
    await eventually(async () => assert.equal(wal.messages, 0), { timeoutMs: 10_000, what: 'the WAL drained' });
    const ids = new Set(stored.map((r) => JSON.parse(r.message.payload.toString()).id));
    assert.equal(ids.size, 100, 'every message was written (a replayed commit may write some twice)');
    const retries = (await metrics.retries.get()).values.find((v) => v.labels.target === 'wal')?.value;
    assert.equal(retries, 3);
    assert.equal(pool.healthy, true, 'healthy again once the WAL answers');
  } finally {
    await pool.stop();
    await wal.close();
  }
});
