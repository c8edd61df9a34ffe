// Failures of the table, not of a row, against real PostgreSQL through PgBouncer: the worker retries with
// backoff, says on /readyz and /metrics what is wrong (SQLSTATE and the fix), and never dead-letters the
// rows; once the table is fixed every acknowledged message lands.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { eventually } from '../../lib/eventually.ts';
import { allStored, ledger, readDeadLetters, withDb } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import { cleanupDirs, makePipeline, WorkerProcess } from '../../lib/worker-process.ts';

after(cleanupDirs);

const day = (offsetDays: number) => {
  const d = new Date();
  d.setUTCHours(0, 0, 0, 0);
  d.setUTCDate(d.getUTCDate() + offsetDays);
  return d.toISOString();
};

describe('table-level errors', () => {
  test("today's partition missing: nothing is dead-lettered, readiness names 23514, rows land once it exists", async (t) => {
    const p = makePipeline({ spec: { flusher: { retry: { initialBackoff: '100ms', maxBackoff: '500ms' } } } });
    // The table as a user partitions it by received_at, with only yesterday's partition made.
    await withDb(async (c) => {
      await c.query(`CREATE TABLE "${p.table}" (
        id bigint GENERATED ALWAYS AS IDENTITY, tenant text NOT NULL, device_id uuid NOT NULL, path text NOT NULL,
        payload jsonb NOT NULL, received_at timestamptz NOT NULL, ingested_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (id, received_at)) PARTITION BY RANGE (received_at)`);
      await c.query(
        `CREATE TABLE "${p.table}_yesterday" PARTITION OF "${p.table}" FOR VALUES FROM ('${day(-1)}') TO ('${day(0)}')`,
      );
    });
    const w = WorkerProcess.start(p);
    try {
      await w.waitReady();
      const runId = `nopart${randomBytes(3).toString('hex')}`;
      const count = 1000;
      const summary = await publish(p.path, runId, { count, devices: 10, tenants: 2 });
      assert.equal(summary.acked, count);
      // The worker notices, says what is wrong and what to do, and keeps every row.
      const body = await eventually(
        async () => {
          const r = await fetch(`http://127.0.0.1:${w.healthPort}/readyz`);
          const text = await r.text();
          assert.equal(r.status, 503, text);
          assert.match(text, /23514/);
          assert.match(text, /partition/i);
          return text;
        },
        { timeoutMs: 30_000, what: 'readiness naming the missing partition' },
      );
      await eventually(
        async () => {
          assert.equal(await w.metric(`mqtt2pg_sink_blocked{sqlstate="23514"}`), 1);
          assert.ok((await w.metric(`mqtt2pg_retries_total{target="postgres"}`)) >= 5);
        },
        { timeoutMs: 30_000, what: 'the blocked gauge and several retries' },
      );
      assert.equal((await readDeadLetters(p)).length, 0, 'a missing partition never dead-letters rows');
      assert.equal(w.child.exitCode, null, 'the worker stays up');

      await withDb((c) =>
        c.query(
          `CREATE TABLE "${p.table}_today" PARTITION OF "${p.table}" FOR VALUES FROM ('${day(0)}') TO ('${day(2)}')`,
        ),
      );
      const a = await allStored(p, runId, count, 60_000);
      const l = await ledger(p, runId);
      assert.equal(l.telemetry.size, count, 'every row is in the table');
      assert.equal(l.deadLetters.size, 0);
      assert.deepEqual(a.inSeveral, []);
      await w.waitReady();
      assert.equal(await w.metric(`mqtt2pg_sink_blocked{sqlstate="23514"}`), 0);
      t.diagnostic(`readyz while blocked: ${body.trim()}`);
    } finally {
      w.kill('SIGTERM');
      await w.exited;
    }
  });

  test('a CHECK constraint one row violates (also 23514) still dead-letters just that row', async () => {
    const p = makePipeline({ spec: { flusher: { retry: { initialBackoff: '100ms', maxBackoff: '500ms' } } } });
    const w = WorkerProcess.start(p);
    try {
      await w.waitReady();
      await withDb((c) =>
        c.query(`ALTER TABLE "${p.table}" ADD CONSTRAINT no_seven CHECK (payload->>'id' NOT LIKE '%-7')`),
      );
      const runId = `check${randomBytes(3).toString('hex')}`;
      const count = 50;
      await publish(p.path, runId, { count, devices: 5, tenants: 1 });
      await allStored(p, runId, count, 60_000);
      const l = await ledger(p, runId);
      assert.deepEqual([...l.deadLetters.keys()], [`${runId}-7`]);
      assert.equal(l.deadLetters.get(`${runId}-7`)?.line.sqlstate, '23514');
      assert.equal(l.telemetry.size, count - 1);
    } finally {
      w.kill('SIGTERM');
      await w.exited;
    }
  });
});
