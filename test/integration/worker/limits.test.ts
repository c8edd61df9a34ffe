// Limits with a place to go (docs/reliability.md "Limits"), against real Mosquitto, PostgreSQL and MinIO:
// payloads PostgreSQL's jsonb would refuse or choke on land in the unparseable table with a reason before
// COPY; a message over the advertised Maximum Packet Size never reaches the worker, which keeps going; a
// batch whose COPY text is past V8's longest string still reaches PostgreSQL.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import pg from 'pg';
import type { InboundMessage } from '../../../worker/message.ts';
import { migrate } from '../../../worker/migrate.ts';
import { PgSink } from '../../../worker/pg-sink.ts';
import { toRow } from '../../../worker/rows.ts';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { allStored, ledger, readDeadLetters, withDb } from '../../lib/ledger.ts';
import { cleanupDirs, makePipeline, type TestPipeline, WorkerProcess } from '../../lib/worker-process.ts';

after(cleanupDirs);

async function publishAll(messages: Array<{ topic: string; payload: string | Buffer }>) {
  const client = await mqtt.connectAsync(requireEnv('MQTT_URL'), {
    protocolVersion: 5,
    username: requireEnv('MQTT_USERNAME'),
    password: requireEnv('MQTT_PASSWORD'),
  });
  try {
    for (const m of messages) await client.publishAsync(m.topic, m.payload, { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

async function stopGracefully(w: WorkerProcess) {
  w.kill('SIGTERM');
  assert.equal((await w.exited).code, 0, w.output);
}

const unparseableRows = (p: TestPipeline) =>
  withDb(
    async (c) =>
      (
        await c.query<{ payload: Buffer; reason: string; detail: string }>(
          `SELECT payload, reason, detail FROM "${p.unparseableTable}"`,
        )
      ).rows,
  );

/** A JSON payload carrying the ledger's run and id, with `extra` spliced in as more members. */
const payload = (runId: string, n: number, extra = '') => `{"run":"${runId}","id":"${runId}-${n}"${extra}}`;

describe('payloads PostgreSQL would refuse go to the unparseable table before COPY', () => {
  test('deeply nested JSON among good traffic: good rows land, the deep ones are unparseable, nothing retried', async () => {
    const p = makePipeline();
    const w = WorkerProcess.start(p);
    await w.waitReady();
    const runId = `deep${randomBytes(3).toString('hex')}`;
    const topic = `t/acme/d/${randomUUID()}/evt/${p.path}/x`;
    // Deep enough for PostgreSQL's jsonb parser to give up with SQLSTATE 54001 (stack depth), which JSON.parse accepts.
    const depth = 20_000;
    const deep = `,"d":${'['.repeat(depth)}${']'.repeat(depth)}`;
    const deepIds = new Set([7, 23, 41]);
    const count = 60;
    await publishAll(
      Array.from({ length: count }, (_, n) => ({ topic, payload: payload(runId, n, deepIds.has(n) ? deep : '') })),
    );
    const a = await allStored(p, runId, count, 20_000);
    assert.deepEqual(a.inSeveral, []);
    const l = await ledger(p, runId);
    for (const n of deepIds) {
      assert.equal(l.unparseable.get(`${runId}-${n}`)?.reason, 'json_too_deep', `message ${n} is unparseable`);
    }
    assert.equal(l.telemetry.size, count - deepIds.size, 'every good message is a row');
    const rows = await unparseableRows(p);
    assert.match(rows[0]?.detail ?? '', /^JSON nests 20001 levels deep, over spec\.limits\.maxJsonDepth 64$/);
    assert.equal(await w.metric('mqtt2pg_retries_total{target="postgres"}'), 0, 'no batch was retried');
    assert.equal((await readDeadLetters(p)).length, 0, 'nothing dead-lettered');
    await stopGracefully(w);
  });

  test('payloads over maxPayloadSize and JSON with \\u0000 or lone surrogates are unparseable with a reason', async () => {
    const p = makePipeline({ spec: { limits: { maxPayloadSize: '1Ki', maxPacketSize: '16Ki' } } });
    const w = WorkerProcess.start(p);
    await w.waitReady();
    const runId = `lim${randomBytes(3).toString('hex')}`;
    const topic = `t/acme/d/${randomUUID()}/evt/${p.path}/x`;
    const cases: Array<[string, string, RegExp]> = [
      [payload(runId, 0), 'telemetry', /./],
      [
        payload(runId, 1, `,"pad":"${'x'.repeat(2000)}"`),
        'payload_too_large',
        /^payload is 20[0-9]{2} bytes, over spec\.limits\.maxPayloadSize 1Ki$/,
      ],
      [payload(runId, 2, ',"s":"a\\u0000b"'), 'json_unsupported_escape', /\\u0000.*jsonb/],
      [payload(runId, 3, ',"s":"\\ud800"'), 'json_unsupported_escape', /lone surrogate \\ud800/],
      [payload(runId, 4, ',"s":"\\udc00\\ud800"'), 'json_unsupported_escape', /lone surrogate \\udc00/],
      [payload(runId, 5, ',"s":"\\ud83d\\ude00"'), 'telemetry', /./],
    ];
    await publishAll(cases.map(([body]) => ({ topic, payload: body })));
    await allStored(p, runId, cases.length, 20_000);
    const l = await ledger(p, runId);
    const rows = await unparseableRows(p);
    for (const [body, where, detail] of cases) {
      const id = (JSON.parse(body) as { id: string }).id;
      if (where === 'telemetry') {
        assert.equal(l.telemetry.get(id), 1, `${id} is a row`);
        continue;
      }
      assert.equal(l.unparseable.get(id)?.reason, where, `${id}: ${where}`);
      const row = rows.find((r) => r.payload.toString().includes(`"${id}"`));
      assert.ok(row?.payload.equals(Buffer.from(body)), 'the payload is kept byte for byte');
      assert.match(row?.detail ?? '', detail);
    }
    assert.equal(await w.metric('mqtt2pg_retries_total{target="postgres"}'), 0, 'no batch was retried or split');
    assert.equal((await readDeadLetters(p)).length, 0, 'nothing dead-lettered');
    await stopGracefully(w);
  });

  test('a message over maxPacketSize is not delivered (the broker drops it for the worker), which keeps going', async () => {
    const p = makePipeline({ spec: { limits: { maxPayloadSize: '1Ki', maxPacketSize: '4Ki' } } });
    const w = WorkerProcess.start(p);
    await w.waitReady();
    const runId = `pkt${randomBytes(3).toString('hex')}`;
    const topic = `t/acme/d/${randomUUID()}/evt/${p.path}/x`;
    // publishAll resolves only after each PUBACK: the broker accepted the oversize message from its publisher.
    await publishAll([
      { topic, payload: payload(runId, 0) },
      { topic, payload: payload(runId, 1, `,"pad":"${'x'.repeat(8 * 1024)}"`) },
      { topic, payload: payload(runId, 2) },
    ]);
    // The broker delivers in order to one subscriber: once 2 is stored, 1 would have arrived before it.
    const l = await eventually(
      async () => {
        const got = await ledger(p, runId);
        assert.ok(got.telemetry.has(`${runId}-2`));
        return got;
      },
      { timeoutMs: 20_000, what: 'the message after the oversize one stored' },
    );
    assert.equal(l.telemetry.get(`${runId}-0`), 1);
    assert.equal(l.telemetry.has(`${runId}-1`), false, 'the oversize message is not a row');
    assert.equal(l.unparseable.has(`${runId}-1`), false, 'nor unparseable: it never reached the worker');
    assert.equal(await w.metric('mqtt2pg_received_total{qos="1"}'), 2, 'the worker received the two others');
    await w.waitReady();
    await stopGracefully(w);
  });
});

test('a batch whose COPY text is longer than V8 strings can be (5,000 binary payloads of 64 KiB) is written', async () => {
  const id = randomBytes(4).toString('hex');
  const tables = {
    schema: 'public',
    table: `big_${id}`,
    unparseableTable: `big_u_${id}`,
    payloadFormat: 'binary' as const,
  };
  const admin = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  await admin.connect();
  const sink = new PgSink({ connectionString: requireEnv('DATABASE_URL') }, { ...tables, statementTimeoutMs: 120_000 });
  try {
    await migrate(admin, tables);
    // One shared buffer: the test's memory stays small, the COPY text (hex, 2 characters a byte) does not.
    const body = Buffer.alloc(64 * 1024, 7);
    const topic = `t/acme/d/${randomUUID()}/evt/raw`;
    const rows = Array.from({ length: 5000 }, (_, i) => {
      const m: InboundMessage = { topic, payload: body, receivedAt: Date.now() + i, qos: 1, dup: false };
      return toRow(m, 'binary', { maxPayloadSizeBytes: 1024 * 1024, maxJsonDepth: 64 });
    });
    await sink.write(rows);
    const r = await admin.query(
      `SELECT count(*)::int AS n, sum(octet_length(payload))::bigint AS b FROM "${tables.table}"`,
    );
    assert.equal(r.rows[0].n, 5000);
    assert.equal(Number(r.rows[0].b), 5000 * 64 * 1024);
  } finally {
    await sink.close();
    await admin.query(`DROP TABLE IF EXISTS "${tables.table}", "${tables.unparseableTable}"`).catch(() => {});
    await admin.end();
  }
});
