// A route with a dedup key against real Mosquitto and PostgreSQL through PgBouncer (transaction pooling): the
// same messages published twice, and two kill -9 of the worker mid-load (broker redeliveries, WAL replays of
// committed batches), store each id exactly once; the duplicates dropped are counted.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { RouteSpec } from '../../../api/types.ts';
import { eventually } from '../../lib/eventually.ts';
import { withDb } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import { cleanupDirs, makeRoutePipeline, type TestPipeline, WorkerProcess } from '../../lib/worker-process.ts';

after(cleanupDirs);

/** loadgen's device traffic (ids "<run>-<n>" in the payload) as a typed route keyed by the message id. */
const dedupRoute = (p: TestPipeline): RouteSpec => ({
  name: 'events',
  topicFilter: `t/+/d/+/evt/${p.path}/#`,
  topicPattern: `t/{tenant}/d/{device_id:uuid}/evt/{path+}`,
  table: `${p.table}_events`,
  columns: [
    { name: 'msg_id', type: 'text', from: 'payload.id', required: true },
    { name: 'run', type: 'text', from: 'payload.run', required: true },
    { name: 'device_id', type: 'uuid', from: 'topic.device_id', required: true },
    { name: 'sent_at', type: 'timestamptz', from: 'payload.ts', format: 'epochMillis' },
    { name: 'received_at', type: 'timestamptz', from: 'receivedAt' },
  ],
  dedup: { key: ['msg_id'] },
});

const counts = (p: TestPipeline, runId: string) =>
  withDb(async (c) => {
    const r = await c.query<{ n: string; distinct: string }>(
      `SELECT count(*) AS n, count(DISTINCT msg_id) AS distinct FROM "${p.table}_events" WHERE run = $1`,
      [runId],
    );
    return { rows: Number(r.rows[0]?.n), distinct: Number(r.rows[0]?.distinct) };
  });

describe('dedup key', () => {
  test('published twice and two kill -9 mid-load: count(*) equals distinct ids', async (t) => {
    const p = makeRoutePipeline((p) => [dedupRoute(p)], { tag: 'dd' });
    let w = WorkerProcess.start(p);
    await w.waitReady();
    const runId = `dedup${randomBytes(3).toString('hex')}`;
    const count = 30_000;
    const first = publish(p.path, runId, { count, rate: 10_000 });
    for (const at of [0.3, 0.65]) {
      await eventually(
        async () => {
          const received = await w.metric('mqtt2pg_received_total{qos="1"}');
          if (received < count * at * 0.5) throw new Error(`received ${received}`);
        },
        { timeoutMs: 60_000, what: 'the worker receiving traffic' },
      );
      w.kill('SIGKILL');
      await w.exited;
      w = WorkerProcess.start(p);
      await w.waitReady();
    }
    assert.equal((await first).acked, count);
    // The same ids again, as a device resending after a lost connection would.
    assert.equal((await publish(p.path, runId, { count, rate: 0 })).acked, count);
    await eventually(
      async () => {
        const c = await counts(p, runId);
        if (c.distinct !== count) throw new Error(`${c.distinct} distinct ids of ${count}`);
        if ((await w.metric('mqtt2pg_wal_messages')) !== 0) throw new Error('the WAL still holds messages');
        if ((await w.metric('mqtt2pg_duplicates_dropped_total{route="events"}')) < count)
          throw new Error('the second publication is not all dropped yet');
      },
      { timeoutMs: 120_000, what: 'every id stored and the WAL empty' },
    );
    const c = await counts(p, runId);
    assert.deepEqual(c, { rows: count, distinct: count }, 'each id once');
    const dropped = await w.metric('mqtt2pg_duplicates_dropped_total{route="events"}');
    t.diagnostic(`${count} ids stored once; the last worker dropped ${dropped} duplicates`);
    w.kill('SIGTERM');
    assert.equal((await w.exited).code, 0, w.output);
  });
});
