// Outages of real services under load: PostgreSQL down (the WAL absorbs), the WAL full (the worker stops
// acknowledging, the broker holds the rest), S3 down (dead letters wait). Nothing is lost, nothing is
// dead-lettered for an outage.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { command, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { allStored, ledger, readDeadLetters, withDb } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import { cleanupDirs, makePipeline, type TestPipeline, WorkerProcess } from '../../lib/worker-process.ts';

const service = async (action: 'stop' | 'start', name: string) => {
  const r = await command('test/env/service.sh', [action, name]);
  assert.equal(r.code, 0, `${action} ${name}: ${r.stderr}`);
};

// Whatever a failed assertion left stopped is started again for the suites that follow.
after(async () => {
  for (const s of ['postgres', 'minio', 'mosquitto']) await command('test/env/service.sh', ['start', s]);
  cleanupDirs();
});

/** How long a backlog an outage left behind may take to be stored. */
const DRAIN_MS = 180_000;

const load = (p: TestPipeline, runId: string, count: number, rate: number) =>
  publish(p.path, runId, { count, rate, devices: 20, tenants: 2, inflight: 200 });

describe('PostgreSQL outage', () => {
  test('PostgreSQL down for 20 s under load: the WAL absorbs, nothing is dead-lettered, everything lands', async (t) => {
    const p = makePipeline({ spec: { flusher: { retry: { initialBackoff: '100ms', maxBackoff: '2s' } } } });
    const w = WorkerProcess.start(p);
    await w.waitReady();
    const runId = `pgdown${randomBytes(3).toString('hex')}`;
    const count = 60_000;
    const publishing = load(p, runId, count, 2000);
    await eventually(async () => assert.ok((await w.metric('mqtt2pg_flushed_rows_total')) > 2000), {
      timeoutMs: 30_000,
    });
    await service('stop', 'postgres');
    const downAt = Date.now();
    let walDuringOutage = 0;
    try {
      // While PostgreSQL is down, acknowledged messages pile up in the WAL and readiness reports the failure.
      await eventually(
        async () => {
          assert.ok((await w.metric('mqtt2pg_wal_messages')) > 10_000);
          const r = await fetch(`http://127.0.0.1:${w.healthPort}/readyz`);
          assert.equal(r.status, 503);
        },
        { timeoutMs: 30_000, what: 'the WAL absorbing the outage' },
      );
      const remaining = 20_000 - (Date.now() - downAt);
      if (remaining > 0) await new Promise((r) => setTimeout(r, remaining)); // the outage itself lasts 20 s
      walDuringOutage = await w.metric('mqtt2pg_wal_messages');
    } finally {
      await service('start', 'postgres');
    }
    const summary = await publishing;
    assert.equal(summary.acked, count);
    const a = await allStored(p, runId, count, DRAIN_MS);
    assert.equal((await readDeadLetters(p)).length, 0, 'an outage never dead-letters');
    assert.equal(w.child.exitCode, null, 'the worker stayed up');
    await w.waitReady();
    t.diagnostic(
      `WAL held ${walDuringOutage} messages after 20 s of outage; all ${count} stored, ${a.duplicates} duplicates`,
    );
    w.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);
  });

  test('WAL full while PostgreSQL is down: the worker stops acknowledging, memory stays bounded, nothing is lost', async (t) => {
    const p = makePipeline({
      spec: { wal: { sizeLimit: '1Mi' }, flusher: { retry: { initialBackoff: '100ms', maxBackoff: '1s' } } },
    });
    const w = WorkerProcess.start(p);
    await w.waitReady();
    await service('stop', 'postgres');
    let acked = 0;
    let walBytes = 0;
    let rss = 0;
    const runId = `walfull${randomBytes(3).toString('hex')}`;
    const count = 30_000; // about 8 MB of payload: eight times the WAL limit
    try {
      const summary = await load(p, runId, count, 0);
      assert.equal(summary.acked, count, 'the broker took every publish');
      await eventually(async () => assert.equal(await w.metric('mqtt2pg_backpressure'), 1), {
        timeoutMs: 30_000,
        what: 'backpressure',
      });
      const m = await w.metrics();
      acked = m.get('mqtt2pg_acked_total') ?? 0;
      walBytes = m.get('mqtt2pg_wal_bytes') ?? 0;
      rss = m.get('mqtt2pg_process_resident_memory_bytes') ?? 0;
      assert.ok(acked < count / 2, `acked ${acked} of ${count}: the worker stopped acknowledging`);
      assert.ok(walBytes < 2 * 2 ** 20, `WAL ${walBytes} bytes stays near its 1Mi limit`);
      assert.ok(rss < 400 * 2 ** 20, `RSS ${rss} bytes stays bounded`);
    } finally {
      await service('start', 'postgres');
    }
    const a = await allStored(p, runId, count, DRAIN_MS);
    assert.equal((await readDeadLetters(p)).length, 0);
    t.diagnostic(
      `while full: acked ${acked}/${count}, WAL ${walBytes} B, RSS ${Math.round(rss / 2 ** 20)} MiB; afterwards all stored, ${a.duplicates} duplicates`,
    );
    w.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);
  });
});

describe('S3 outage', () => {
  test('dead letters wait in the WAL while S3 is down, then arrive; good rows are not held up', async () => {
    const p = makePipeline({ spec: { flusher: { retry: { initialBackoff: '100ms', maxBackoff: '1s' } } } });
    const w = WorkerProcess.start(p);
    await w.waitReady();
    await service('stop', 'minio');
    const runId = `s3down${randomBytes(3).toString('hex')}`;
    const total = 200;
    const poison = new Set([5, 150]);
    try {
      const client = await mqtt.connectAsync(requireEnv('MQTT_URL'), {
        protocolVersion: 5,
        username: requireEnv('MQTT_USERNAME'),
        password: requireEnv('MQTT_PASSWORD'),
      });
      const device = randomUUID();
      // Poison rows among good ones: the good rows commit at once, the rejected ones wait for S3.
      for (let n = 0; n < total; n++) {
        const payload = poison.has(n)
          ? `{"id":"${runId}-${n}","run":"${runId}","v":1e999999}`
          : JSON.stringify({ id: `${runId}-${n}`, run: runId });
        await client.publishAsync(`t/acme/d/${device}/evt/${p.path}/x`, payload, { qos: 1 });
      }
      await client.endAsync();
      await eventually(
        async () => {
          const { rows } = await withDb((c) => c.query(`SELECT count(*)::int AS n FROM "${p.table}"`));
          assert.equal(rows[0].n, total - poison.size);
        },
        { timeoutMs: 30_000, what: 'good rows committed while S3 is down' },
      );
      await eventually(async () => assert.ok((await w.metric('mqtt2pg_retries_total{target="s3"}')) >= 2), {
        timeoutMs: 30_000,
        what: 'S3 retries',
      });
      assert.ok((await w.metric('mqtt2pg_wal_messages')) > 0, 'the rejected rows are still held in the WAL');
    } finally {
      await service('start', 'minio');
    }
    const a = await allStored(p, runId, total, DRAIN_MS);
    assert.deepEqual(a.inSeveral, []);
    const l = await ledger(p, runId);
    assert.deepEqual([...l.deadLetters.keys()].sort(), [...poison].map((n) => `${runId}-${n}`).sort());
    await eventually(async () => assert.equal(await w.metric('mqtt2pg_wal_messages'), 0), { timeoutMs: 10_000 });
    w.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);
  });
});

describe('broker restart', () => {
  test('the worker reconnects with backoff, resubscribes and goes on ingesting', async () => {
    const p = makePipeline();
    const w = WorkerProcess.start(p);
    await w.waitReady();
    const before = `brk1${randomBytes(3).toString('hex')}`;
    await load(p, before, 3000, 0);
    await allStored(p, before, 3000, DRAIN_MS);
    await service('stop', 'mosquitto');
    try {
      await eventually(async () => assert.equal(await w.metric('mqtt2pg_broker_connected'), 0), {
        timeoutMs: 15_000,
        what: 'the worker noticing the broker is gone',
      });
      const r = await fetch(`http://127.0.0.1:${w.healthPort}/readyz`);
      assert.equal(r.status, 503);
    } finally {
      await service('start', 'mosquitto');
    }
    await w.waitReady(60_000);
    const after = `brk2${randomBytes(3).toString('hex')}`;
    await load(p, after, 3000, 0);
    await allStored(p, after, 3000, DRAIN_MS);
    assert.match(w.output, /lost the broker connection; reconnecting/);
    w.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);
  });
});
