// A partitioned route with a dedup key, end to end against real Mosquitto and PostgreSQL through PgBouncer:
// `mqtt2pg migrate` creates the partitioned table and its partitions; at start the worker creates the ones
// ahead and drops one past the retention; messages dated inside the window land once (a redelivered one
// too), those outside it land in the unparseable table with reason outside_partitions, the column and the
// window named, without a batch split; a dedup key without the partition column is refused by validate.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import type { RouteSpec } from '../../../api/types.ts';
import { partitionName } from '../../../worker/partition-plan.ts';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { withDb } from '../../lib/ledger.ts';
import {
  cleanupDirs,
  makeRoutePipeline,
  pipelineCommand,
  type TestPipeline,
  WorkerProcess,
} from '../../lib/worker-process.ts';

after(cleanupDirs);

const D = 86_400_000;

const readings = (p: TestPipeline) => `${p.table}_r`;

const route = (p: TestPipeline, key: string[]): RouteSpec => ({
  name: 'readings',
  topicFilter: `${p.path}/machine/+`,
  topicPattern: `${p.path}/machine/{machine}`,
  table: readings(p),
  columns: [
    { name: 'machine', type: 'text', from: 'topic.machine', required: true },
    { name: 'measured_at', type: 'timestamptz', from: 'payload.ts', format: 'epochMillis', required: true },
    { name: 'temperature', type: 'double precision', from: 'payload.temp' },
  ],
  dedup: { key },
  partitioning: { column: 'measured_at', interval: '1d', retention: '3d', premake: 2 },
});

const partitions = (table: string) =>
  withDb(async (c) => {
    const r = await c.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = $1::regclass ORDER BY 1`,
      [`"${table}"`],
    );
    return r.rows.map((x) => x.name);
  });

describe('partitioned routes', () => {
  test('partitions ahead, one dropped past the retention, out-of-window rows unparseable with their reason', async () => {
    const p = makeRoutePipeline((p) => [route(p, ['machine', 'measured_at'])], { tag: 'pt' });
    const table = readings(p);
    const migrated = await pipelineCommand(p, 'migrate');
    assert.equal(migrated.code, 0, migrated.stderr);
    const now = Date.now();
    const day = (offset: number) => partitionName(table, Math.floor(now / D) * D + offset * D, D);
    // The window as of now: 3 days back (retention) to 2 ahead (premake).
    assert.deepEqual(await partitions(table), [-3, -2, -1, 0, 1, 2].map(day));
    // A partition from long ago, as an earlier day's maintenance would have left it: past the retention.
    const old = Math.floor(now / D) * D - 10 * D;
    await withDb((c) =>
      c.query(
        `CREATE TABLE "${day(-10)}" PARTITION OF "${table}" FOR VALUES FROM ('${new Date(old).toISOString()}') TO ('${new Date(old + D).toISOString()}')`,
      ),
    );

    const w = WorkerProcess.start(p);
    await w.waitReady();
    await eventually(async () => assert.deepEqual(await partitions(table), [-3, -2, -1, 0, 1, 2].map(day)), {
      timeoutMs: 10_000,
      what: 'the old partition dropped at start',
    });

    const client = await mqtt.connectAsync(requireEnv('MQTT_URL'), {
      protocolVersion: 5,
      username: requireEnv('MQTT_USERNAME'),
      password: requireEnv('MQTT_PASSWORD'),
    });
    const machine = randomUUID();
    const send = (ts: number, temp: number) =>
      client.publishAsync(`${p.path}/machine/${machine}`, JSON.stringify({ ts, temp }), { qos: 1 });
    await send(now, 1);
    await send(now, 1); // the same reading again: stored once
    await send(now - D, 2);
    await send(now + D, 3);
    await send(now - 10 * D, 4); // its partition is gone
    await send(now + 30 * D, 5); // no partition made that far ahead
    await client.endAsync();

    await eventually(
      async () => {
        const n = await withDb((c) => c.query(`SELECT count(*)::int AS n FROM "${p.unparseableTable}"`));
        const t = await withDb((c) => c.query(`SELECT count(*)::int AS n FROM "${table}"`));
        assert.deepEqual({ table: t.rows[0].n, unparseable: n.rows[0].n }, { table: 3, unparseable: 2 });
      },
      { timeoutMs: 20_000, what: 'rows in the table and the unparseable table' },
    );
    const stored = await withDb((c) => c.query(`SELECT temperature FROM "${table}" ORDER BY temperature`));
    assert.deepEqual(
      stored.rows.map((r) => r.temperature),
      [1, 2, 3],
    );
    const refused = await withDb((c) =>
      c.query<{ reason: string; detail: string }>(
        `SELECT reason, detail FROM "${p.unparseableTable}" ORDER BY received_at`,
      ),
    );
    assert.equal(refused.rows.length, 2);
    const [tooOld, tooNew] = refused.rows;
    assert.equal(tooOld?.reason, 'outside_partitions');
    assert.match(
      tooOld?.detail ?? '',
      /^column "measured_at": \S+ is older than the oldest partition \(partitions span /,
    );
    assert.equal(tooNew?.reason, 'outside_partitions');
    assert.match(tooNew?.detail ?? '', /^column "measured_at": \S+ is later than the newest partition .*raise premake/);
    assert.equal(await w.metric('mqtt2pg_retries_total{target="postgres"}'), 0, 'no batch failed or split');
    assert.equal(await w.metric('mqtt2pg_unparseable_total{reason="outside_partitions"}'), 2);
    assert.equal(await w.metric('mqtt2pg_duplicates_dropped_total{route="readings"}'), 1);
    w.kill('SIGTERM');
    assert.equal((await w.exited).code, 0, w.output);
  });

  test('a dedup key without the partition column is refused by validate, saying why', async () => {
    const p = makeRoutePipeline((p) => [route(p, ['machine'])], { tag: 'pt' });
    const r = await pipelineCommand(p, 'validate');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(
      r.stdout + r.stderr,
      /dedup\.key must include partitioning\.column: PostgreSQL requires every unique key of a partitioned table to contain the partition column/,
    );
  });
});
