// The delivery contract of ../shared/DESIGN.md, against real Mosquitto, PgBouncer, PostgreSQL and MinIO:
// no acknowledged message is lost across kill -9; SIGTERM drains; poison rows are isolated to the DLQ;
// contract violations land in the unparseable table; bad configuration fails fast.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import type { LoadgenOptions } from '../../../worker/loadgen.ts';
import { Wal } from '../../../worker/wal.ts';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { allStored, ledger, readDeadLetters, withDb } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import {
  cleanupDirs,
  makePipeline,
  rewritePipeline,
  type TestPipeline,
  WorkerProcess,
} from '../../lib/worker-process.ts';

after(cleanupDirs);

const load1 = (p: TestPipeline, runId: string, extra: Partial<LoadgenOptions> & { count: number }) =>
  publish(p.path, runId, extra);

async function stopGracefully(w: WorkerProcess) {
  w.kill('SIGTERM');
  const exit = await w.exited;
  assert.equal(exit.code, 0, w.output);
}

describe('no acknowledged message is lost', () => {
  test('100k QoS 1 messages survive two kill -9 of the worker mid-stream', async (t) => {
    const p = makePipeline();
    let w = WorkerProcess.start(p);
    await w.waitReady();
    const runId = `crash${randomBytes(3).toString('hex')}`;
    const count = 100_000;
    const kills: number[] = [];
    const publishing = load1(p, runId, {
      count,
      rate: 20_000,
      onProgress: () => {},
    });
    for (const at of [0.3, 0.65]) {
      await eventually(
        async () => {
          const received = await w.metric('mqtt2pg_received_total{qos="1"}');
          if (received < count * at * 0.5) throw new Error(`received ${received}`);
          return received;
        },
        { timeoutMs: 60_000, what: 'the worker receiving traffic' },
      );
      w.kill('SIGKILL');
      await w.exited;
      kills.push(Date.now());
      w = WorkerProcess.start(p);
      await w.waitReady();
    }
    const summary = await publishing;
    assert.equal(summary.acked, count, 'the broker acknowledged every publish');
    const a = await allStored(p, runId, count);
    assert.deepEqual(a.inSeveral, []);
    t.diagnostic(`kill -9 twice: all ${count} ids stored; ${a.duplicates} duplicates (at-least-once redeliveries)`);
    await stopGracefully(w);
  });

  test('SIGTERM under load stops taking messages, drains the WAL and exits 0', async (t) => {
    const p = makePipeline();
    const w = WorkerProcess.start(p);
    await w.waitReady();
    const runId = `term${randomBytes(3).toString('hex')}`;
    const publishing = load1(p, runId, { count: 60_000, rate: 10_000 });
    await eventually(async () => assert.ok((await w.metric('mqtt2pg_received_total{qos="1"}')) > 10_000), {
      timeoutMs: 30_000,
    });
    const ackedBefore = await w.metric('mqtt2pg_acked_total');
    w.kill('SIGTERM');
    const exit = await w.exited;
    assert.equal(exit.code, 0, w.output);
    await publishing;
    const drained = /"msg":"drained: every acknowledged message is committed"/.test(w.output);
    assert.ok(drained, w.output.slice(-2000));
    // The WAL is empty on disk, and every message the worker acknowledged is in PostgreSQL.
    const wal = await Wal.open({ dir: p.walDir, sizeLimitBytes: 2 ** 30, retentionMs: 3_600_000 });
    assert.equal(wal.messages, 0);
    await wal.close();
    const l = await ledger(p, runId);
    const stored = l.telemetry.size;
    assert.ok(stored >= ackedBefore, `stored ${stored} < acked before SIGTERM ${ackedBefore}`);
    t.diagnostic(`acked before SIGTERM ${ackedBefore}; stored after drain ${stored}`);
  });
});

describe('rows PostgreSQL rejects and messages that break the contract', () => {
  test('poison rows go to the DLQ with their SQLSTATE; their batch neighbours land in the table', async () => {
    const p = makePipeline({ spec: { flusher: { batchSize: 500, flushInterval: '200ms' } } });
    const w = WorkerProcess.start(p);
    await w.waitReady();
    const runId = `poison${randomBytes(3).toString('hex')}`;
    const client = await mqtt.connectAsync(requireEnv('MQTT_URL'), {
      protocolVersion: 5,
      username: requireEnv('MQTT_USERNAME'),
      password: requireEnv('MQTT_PASSWORD'),
    });
    const device = randomUUID();
    const poison = new Set([17, 250, 251, 777, 999]);
    const total = 1000;
    for (let n = 0; n < total; n++) {
      // JSON.parse accepts a number past numeric's range (Infinity); PostgreSQL's jsonb does not (SQLSTATE 22003).
      const payload = poison.has(n)
        ? `{"id":"${runId}-${n}","run":"${runId}","v":1e999999}`
        : JSON.stringify({ id: `${runId}-${n}`, run: runId, v: n });
      await client.publishAsync(`t/acme/d/${device}/evt/${p.path}/x`, payload, {
        qos: 1,
        properties: { userProperties: { fw: '1.2.3' } },
      });
    }
    await client.endAsync();
    const a = await allStored(p, runId, total);
    const l = await ledger(p, runId);
    assert.equal(a.duplicates, 0);
    assert.deepEqual([...l.deadLetters.keys()].sort(), [...poison].map((n) => `${runId}-${n}`).sort());
    for (const { line } of l.deadLetters.values()) {
      assert.equal(line.sqlstate, '22003');
      assert.match(line.error, /value overflows numeric format/);
      assert.equal(line.topic, `t/acme/d/${device}/evt/${p.path}/x`);
      assert.deepEqual((line as unknown as { userProperties: unknown }).userProperties, { fw: '1.2.3' });
    }
    assert.equal(l.telemetry.size, total - poison.size);
    assert.equal(await w.metric('mqtt2pg_dead_letters_total{sqlstate_class="22"}'), poison.size);
    await stopGracefully(w);
  });

  test('contract violations land in the unparseable table with the original topic, payload and reason', async () => {
    const u = randomBytes(3).toString('hex');
    // A filter wider than the contract, so topics with wrong literal segments reach the worker too.
    const p = makePipeline({ spec: { source: { topicFilter: `+/+/+/+/+/${u}/#` } } });
    const w = WorkerProcess.start(p);
    await w.waitReady();
    const dev = randomUUID();
    const runId = `bad${u}`;
    const cases: Array<[string, string, string]> = [
      [`t/acme/d/${dev}/evt/${u}/ok`, `{"id":"${runId}-0"}`, 'telemetry'],
      [`t/bad tenant/d/${dev}/evt/${u}/x`, `{"id":"${runId}-1"}`, 'bad_tenant'],
      [`t/acme/d/not-a-uuid/evt/${u}/x`, `{"id":"${runId}-2"}`, 'bad_device_id'],
      [`t/acme/device/${dev}/evt/${u}/x`, `{"id":"${runId}-3"}`, 'topic_shape'],
      [`x/acme/d/${dev}/evt/${u}/x`, `{"id":"${runId}-4"}`, 'topic_shape'],
      [`t/acme/d/${dev}/evt/${u}/${'y'.repeat(1000)}`, `{"id":"${runId}-5"}`, 'topic_too_long'],
      [`t/acme/d/${dev}/evt/${u}/x`, `not json ${runId}-6`, 'invalid_json'],
      [
        `t/acme/d/${dev}/evt/${u}/x`,
        Buffer.concat([Buffer.from(`{"id":"${runId}-7","v":"`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]).toString(
          'latin1',
        ),
        'invalid_utf8',
      ],
    ];
    const client = await mqtt.connectAsync(requireEnv('MQTT_URL'), {
      protocolVersion: 5,
      username: requireEnv('MQTT_USERNAME'),
      password: requireEnv('MQTT_PASSWORD'),
    });
    for (const [topic, payload, reason] of cases) {
      const body = reason === 'invalid_utf8' ? Buffer.from(payload, 'latin1') : payload;
      await client.publishAsync(topic, body, { qos: 1 });
    }
    await client.endAsync();
    await eventually(
      async () => {
        const rows = await withDb((c) => c.query(`SELECT count(*)::int AS n FROM "${p.unparseableTable}"`));
        assert.equal(rows.rows[0].n, cases.length - 1);
      },
      { timeoutMs: 30_000, what: 'unparseable rows' },
    );
    const rows = await withDb(
      async (c) =>
        (
          await c.query<{ topic: string; payload: Buffer; reason: string; detail: string }>(
            `SELECT topic, payload, reason, detail FROM "${p.unparseableTable}"`,
          )
        ).rows,
    );
    for (const [topic, payload, reason] of cases.slice(1)) {
      const row = rows.find((r) => r.reason === reason && r.topic === topic);
      assert.ok(row, `no ${reason} row for ${topic.slice(0, 80)}`);
      const sent = reason === 'invalid_utf8' ? Buffer.from(payload, 'latin1') : Buffer.from(payload);
      assert.ok(row.payload.equals(sent), `payload of ${reason} kept byte for byte`);
      assert.ok(row.detail.length > 0);
    }
    const telemetry = await withDb((c) => c.query(`SELECT count(*)::int AS n FROM "${p.table}"`));
    assert.equal(telemetry.rows[0].n, 1);
    assert.equal((await readDeadLetters(p)).length, 0, 'contract violations never go to the DLQ');
    await stopGracefully(w);
  });
});

describe('startup self-check fails fast with a message that says what to fix', () => {
  const failing: Array<[string, (p: TestPipeline) => void, RegExp]> = [
    [
      'a wrong broker address',
      (p) => rewritePipeline(p, { spec: { source: { brokers: ['mqtt://127.0.0.1:1'] } } }),
      /cannot connect to mqtt:\/\/127\.0\.0\.1:1.*check source\.brokers/,
    ],
    [
      'a wrong MQTT password',
      (p) => writeFileSync(join(p.secretsDir, 'mqtt', 'password'), 'wrong'),
      /(bad user name or password|not authorized): check the .*Secret.* source\.auth\.secretRef/,
    ],
    [
      'a wrong PostgreSQL password',
      (p) => writeFileSync(join(p.secretsDir, 'pg', 'password'), 'wrong'),
      /refused the credentials from Secret "pg"/,
    ],
    [
      'a missing database',
      (p) => rewritePipeline(p, { spec: { sink: { postgres: { database: 'nope' } } } }),
      /database "nope" does not exist/,
    ],
    [
      'a missing bucket',
      (p) => rewritePipeline(p, { spec: { deadLetter: { s3: { bucket: 'no-such-bucket' } } } }),
      /bucket "no-such-bucket" does not exist/,
    ],
    [
      'a missing Secret key',
      (p) => rmSync(join(p.secretsDir, 'mqtt', 'password')),
      /spec\.source\.auth\.secretRef: Secret "mqtt" key "password" is not readable/,
    ],
  ];
  for (const [what, breakIt, message] of failing) {
    test(`${what}`, async () => {
      const p = makePipeline();
      breakIt(p);
      const w = WorkerProcess.start(p);
      const exit = await w.exited;
      assert.equal(exit.code, 1, w.output);
      assert.match(w.output, message);
      assert.doesNotMatch(w.output, new RegExp(requireEnv('MQTT_PASSWORD')), 'no secret in the output');
    });
  }
});

describe('mutual TLS to the broker', () => {
  const tlsPipeline = (withClientCert: boolean) => {
    const tls = requireEnv('MQTT_TLS_DIR');
    const p = makePipeline({
      spec: {
        source: {
          brokers: [requireEnv('MQTTS_URL')],
          tls: {
            caSecretRef: { name: 'mqtt-tls' },
            ...(withClientCert ? { clientCertSecretRef: { name: 'mqtt-tls' } } : {}),
          },
        },
      },
    });
    mkdirSync(join(p.secretsDir, 'mqtt-tls'));
    writeFileSync(join(p.secretsDir, 'mqtt-tls', 'ca.crt'), readFileSync(join(tls, 'ca.crt')));
    writeFileSync(join(p.secretsDir, 'mqtt-tls', 'tls.crt'), readFileSync(join(tls, 'client.crt')));
    writeFileSync(join(p.secretsDir, 'mqtt-tls', 'tls.key'), readFileSync(join(tls, 'client.key')));
    return p;
  };

  test('a worker with the CA and a client certificate from Secrets ingests over mqtts://', async () => {
    const p = tlsPipeline(true);
    const w = WorkerProcess.start(p);
    await w.waitReady();
    const runId = `tls${randomBytes(3).toString('hex')}`;
    const summary = await load1(p, runId, { count: 2000 });
    assert.equal(summary.acked, 2000);
    const a = await allStored(p, runId, 2000, 30_000);
    assert.equal(a.duplicates, 0);
    await stopGracefully(w);
  });

  test('without the client certificate the broker refuses the handshake and the worker says so', async () => {
    const p = tlsPipeline(false);
    const w = WorkerProcess.start(p);
    const exit = await w.exited;
    assert.equal(exit.code, 1, w.output);
    assert.match(w.output, /mqtts:\/\/127\.0\.0\.1:58883/);
  });
});
