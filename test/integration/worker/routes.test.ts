// spec.routes against real Mosquitto and PostgreSQL through PgBouncer (docs/routes.md): typed columns from
// topic captures, JSON paths, a user property and the content type land typed; values of the wrong type and
// missing required values land in the unparseable table with the column named; several routes write each
// their own table; a column added to the route is added to the table at the next start (old rows NULL), and
// a changed type stops the worker with the migration to do.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import type pg from 'pg';
import type { ColumnSpec, RouteSpec } from '../../../api/types.ts';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { withDb } from '../../lib/ledger.ts';
import {
  cleanupDirs,
  makeRoutePipeline,
  rewritePipeline,
  type TestPipeline,
  WorkerProcess,
} from '../../lib/worker-process.ts';

after(cleanupDirs);

interface Publish {
  topic: string;
  payload: string | Buffer;
  userProperties?: Record<string, string>;
  contentType?: string;
}

async function publishAll(messages: Publish[]) {
  const client = await mqtt.connectAsync(requireEnv('MQTT_URL'), {
    protocolVersion: 5,
    username: requireEnv('MQTT_USERNAME'),
    password: requireEnv('MQTT_PASSWORD'),
  });
  try {
    for (const m of messages) {
      const properties = {
        ...(m.userProperties ? { userProperties: m.userProperties } : {}),
        ...(m.contentType ? { contentType: m.contentType } : {}),
      };
      await client.publishAsync(m.topic, m.payload, { qos: 1, properties });
    }
  } finally {
    await client.endAsync();
  }
}

const query = <R extends pg.QueryResultRow>(sql: string) => withDb(async (c) => (await c.query<R>(sql)).rows);

const countOf = async (table: string) =>
  Number((await query<{ n: string }>(`SELECT count(*) AS n FROM "${table}"`))[0]?.n);

async function rowsIn(table: string, n: number): Promise<void> {
  await eventually(
    async () => {
      const got = await countOf(table);
      if (got !== n) throw new Error(`${table} holds ${got} rows, want ${n}`);
    },
    { timeoutMs: 20_000, what: `${n} rows in ${table}` },
  );
}

async function stopGracefully(w: WorkerProcess) {
  w.kill('SIGTERM');
  assert.equal((await w.exited).code, 0, w.output);
}

const routePipeline = (routes: (p: TestPipeline) => RouteSpec[]) => makeRoutePipeline(routes, { tag: 'rt' });

const readingColumns: ColumnSpec[] = [
  { name: 'plant', type: 'text', from: 'topic.plant', required: true },
  { name: 'line', type: 'smallint', from: 'topic.line' },
  { name: 'machine', type: 'uuid', from: 'topic.machine', required: true },
  { name: 'temperature', type: 'double precision', from: 'payload.temp' },
  { name: 'count', type: 'bigint', from: 'payload.counters[1]' },
  { name: 'ok', type: 'boolean', from: 'payload.status.ok' },
  { name: 'measured_at', type: 'timestamptz', from: 'payload.ts', format: 'epochMillis', required: true },
  { name: 'day', type: 'date', from: 'payload.day' },
  { name: 'msg_id', type: 'text', from: 'property.msg-id' },
  { name: 'kind', type: 'text', from: 'contentType' },
  { name: 'attrs', type: 'jsonb', from: 'payload.attrs' },
  { name: 'received_at', type: 'timestamptz', from: 'receivedAt', required: true },
];

describe('routes: typed columns into tables of their own', () => {
  test('captures, JSON paths, a user property and the content type land typed; bad values are unparseable, the column named; each route writes its table', async () => {
    const p = routePipeline((p) => [
      {
        name: 'readings',
        topicFilter: `${p.path}/plant/+/line/+/machine/+/reading`,
        topicPattern: `${p.path}/plant/{plant}/line/{line}/machine/{machine:uuid}/reading`,
        table: `${p.table}_readings`,
        columns: readingColumns,
      },
      {
        name: 'status',
        topicFilter: `${p.path}/status/#`,
        topicPattern: `${p.path}/status/{rest+}`,
        table: `${p.table}_status`,
        payloadFormat: 'text',
        columns: [
          { name: 'path', type: 'text', from: 'topic.rest' },
          { name: 'body', type: 'text', from: 'payload', required: true },
        ],
      },
    ]);
    const w = WorkerProcess.start(p);
    await w.waitReady();
    const machine = randomUUID();
    const topic = `${p.path}/plant/north/line/3/machine/${machine}/reading`;
    const good = {
      temp: 21.25,
      counters: [1, '9007199254740993'],
      status: { ok: true },
      ts: 1764514945123,
      day: '2026-11-30',
      attrs: { fw: '1.2', tags: ['a'] },
    };
    await publishAll([
      { topic, payload: JSON.stringify(good), userProperties: { 'msg-id': 'm-1' }, contentType: 'application/json' },
      { topic, payload: JSON.stringify({ ...good, temp: 'abc' }) },
      { topic, payload: JSON.stringify({ temp: 1 }) },
      { topic: `${p.path}/plant/north/line/99999/machine/${machine}/reading`, payload: JSON.stringify(good) },
      { topic: `${p.path}/status/gw/7`, payload: 'online' },
    ]);
    await rowsIn(`${p.table}_readings`, 1);
    await rowsIn(`${p.table}_status`, 1);
    await rowsIn(p.unparseableTable, 3);

    const [row] = await query<Record<string, unknown>>(
      `SELECT plant, line, machine, temperature, count::text AS count, ok, measured_at, day::text AS day, msg_id, kind, attrs,
              received_at, pg_typeof(line)::text AS line_type, pg_typeof(temperature)::text AS temperature_type
         FROM "${p.table}_readings"`,
    );
    assert.equal(row?.plant, 'north');
    assert.equal(row?.line, 3);
    assert.equal(row?.line_type, 'smallint');
    assert.equal(row?.machine, machine);
    assert.equal(row?.temperature, 21.25);
    assert.equal(row?.temperature_type, 'double precision');
    assert.equal(row?.count, '9007199254740993', 'a bigint sent as a string keeps every digit');
    assert.equal(row?.ok, true);
    assert.equal((row?.measured_at as Date | undefined)?.getTime(), 1764514945123);
    assert.equal(row?.day, '2026-11-30');
    assert.equal(row?.msg_id, 'm-1');
    assert.equal(row?.kind, 'application/json');
    assert.deepEqual(row?.attrs, { fw: '1.2', tags: ['a'] });
    assert.ok(row?.received_at instanceof Date);

    assert.deepEqual(await query(`SELECT path, body FROM "${p.table}_status"`), [{ path: 'gw/7', body: 'online' }]);
    const refused = await query<{ reason: string; detail: string }>(
      `SELECT reason, detail FROM "${p.unparseableTable}" ORDER BY detail`,
    );
    assert.deepEqual(refused, [
      { reason: 'column_type', detail: 'column "line": "99999" is out of the smallint range -32768..32767' },
      { reason: 'column_missing', detail: 'column "measured_at": no value at payload.ts' },
      { reason: 'column_type', detail: 'column "temperature": "abc" is not double precision' },
    ]);
    assert.equal(await w.metric('mqtt2pg_retries_total{target="postgres"}'), 0, 'no batch split or retried');
    await stopGracefully(w);
  });

  test('a column added to the route is added at the next start, old rows NULL; a changed type stops the worker with the migration', async () => {
    const route = (p: TestPipeline, columns: ColumnSpec[]): RouteSpec => ({
      name: 'readings',
      topicFilter: `${p.path}/m/+`,
      topicPattern: `${p.path}/m/{machine}`,
      table: `${p.table}_evolve`,
      columns,
    });
    const base: ColumnSpec[] = [
      { name: 'machine', type: 'text', from: 'topic.machine' },
      { name: 'temperature', type: 'double precision', from: 'payload.temp' },
    ];
    const p = routePipeline((p) => [route(p, base)]);
    const table = `${p.table}_evolve`;
    const send = (n: number, from: number) =>
      publishAll(
        Array.from({ length: n }, (_, i) => ({
          topic: `${p.path}/m/m${from + i}`,
          payload: JSON.stringify({ temp: from + i, hum: 40 + i }),
        })),
      );

    let w = WorkerProcess.start(p);
    await w.waitReady();
    await send(3, 0);
    await rowsIn(table, 3);
    await stopGracefully(w);

    rewritePipeline(p, {
      spec: { routes: [route(p, [...base, { name: 'humidity', type: 'real', from: 'payload.hum' }])] },
    });
    w = WorkerProcess.start(p);
    await w.waitReady();
    await send(3, 10);
    await rowsIn(table, 6);
    // Two flushers commit in either order: identity values say nothing about which message came first.
    const rows = await query<{ machine: string; humidity: number | null }>(
      `SELECT machine, humidity FROM "${table}" ORDER BY humidity NULLS FIRST, machine`,
    );
    assert.deepEqual(
      rows.map((r) => [r.machine, r.humidity]),
      [
        ['m0', null],
        ['m1', null],
        ['m2', null],
        ['m10', 40],
        ['m11', 41],
        ['m12', 42],
      ],
    );
    await stopGracefully(w);

    rewritePipeline(p, {
      spec: {
        routes: [route(p, [base[0] as ColumnSpec, { name: 'temperature', type: 'integer', from: 'payload.temp' }])],
      },
    });
    w = WorkerProcess.start(p);
    const exit = await w.exited;
    assert.equal(exit.code, 1, w.output);
    assert.match(
      w.output,
      new RegExp(
        `table public\\.${table} column temperature is double precision, route readings declares integer: migrate it by hand \\(ALTER TABLE "public"\\."${table}" ALTER COLUMN "temperature" TYPE integer`,
      ),
    );
  });
});
