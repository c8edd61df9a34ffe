// One stuck dependency never stalls the pipeline, against the real services: with S3 down, poison rows
// wait in the WAL while the good rows around them land; a PgBouncer that goes silent mid-connection is
// noticed within seconds and left behind for a fresh connection.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { command, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { allStored, ledger, withDb } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import { SilentProxy } from '../../lib/silent-proxy.ts';
import { cleanupDirs, makePipeline, WorkerProcess } from '../../lib/worker-process.ts';

/** This helper's extra-service port (61000 + 100·k): the proxy in front of PgBouncer. */
const PROXY_PORT = 61500;

after(async () => {
  await command('test/env/service.sh', ['start', 'minio']);
  cleanupDirs();
});

const service = async (action: 'stop' | 'start', name: string) => {
  const r = await command('test/env/service.sh', [action, name]);
  assert.equal(r.code, 0, `${action} ${name}: ${r.stderr}`);
};

/** Publishes ids <runId>-0..count-1 one at a time (each its own WAL group); `poison(n)` marks rows the table refuses. */
async function publishEach(path: string, runId: string, count: number, poison: (n: number) => boolean) {
  const client = await mqtt.connectAsync(requireEnv('MQTT_URL'), {
    protocolVersion: 5,
    username: requireEnv('MQTT_USERNAME'),
    password: requireEnv('MQTT_PASSWORD'),
  });
  try {
    const device = randomUUID();
    for (let n = 0; n < count; n++) {
      const body = { id: `${runId}-${n}`, run: runId, ...(poison(n) ? { poison: true } : {}) };
      await client.publishAsync(`t/acme/d/${device}/evt/${path}/x`, JSON.stringify(body), { qos: 1 });
    }
  } finally {
    await client.endAsync();
  }
}

describe('S3 down', () => {
  test('poison rows spread over many batches wait in the WAL; the good rows land meanwhile; all reach the DLQ after', async (t) => {
    // Batches of 10 and two flushers: every batch but a few holds a poison row.
    const p = makePipeline({
      spec: { flusher: { batchSize: 10, flushers: 2, retry: { initialBackoff: '100ms', maxBackoff: '1s' } } },
    });
    const w = WorkerProcess.start(p);
    await w.waitReady();
    // A rule of the table that a few rows break: PostgreSQL refuses them, nothing before it can.
    await withDb((c) => c.query(`ALTER TABLE "${p.table}" ADD CONSTRAINT no_poison CHECK (NOT payload ? 'poison')`));
    const runId = `s3stuck${randomBytes(3).toString('hex')}`;
    const count = 300;
    const isPoison = (n: number) => n % 12 === 5;
    const poison = Array.from({ length: count }, (_, n) => n).filter(isPoison);
    await service('stop', 'minio');
    try {
      await publishEach(p.path, runId, count, isPoison);
      await eventually(
        async () => {
          const { rows } = await withDb((c) =>
            c.query(`SELECT count(*)::int AS n FROM "${p.table}" WHERE payload->>'run' = $1`, [runId]),
          );
          assert.equal(rows[0].n, count - poison.length, 'good rows committed');
        },
        { timeoutMs: 30_000, what: 'every good row committed while S3 is down' },
      );
      await eventually(
        async () => {
          assert.equal(await w.metric('mqtt2pg_dead_letters_pending'), poison.length);
          assert.equal(await w.metric('mqtt2pg_wal_messages'), poison.length, 'only the poison rows stay in the WAL');
        },
        { timeoutMs: 15_000, what: 'the poison rows pending' },
      );
      const r = await fetch(`http://127.0.0.1:${w.healthPort}/readyz`);
      const body = await r.text();
      assert.equal(r.status, 200, 'readiness does not depend on S3');
      assert.match(body, new RegExp(`${poison.length} dead letters wait for the dead-letter store`));
      t.diagnostic(`readyz while S3 is down: ${body.trim()}`);
    } finally {
      await service('start', 'minio');
    }
    const a = await allStored(p, runId, count, 60_000);
    assert.deepEqual(a.inSeveral, []);
    const l = await ledger(p, runId);
    assert.deepEqual([...l.deadLetters.keys()].sort(), poison.map((n) => `${runId}-${n}`).sort());
    for (const [, d] of l.deadLetters) assert.equal(d.line.sqlstate, '23514');
    await eventually(async () => assert.equal(await w.metric('mqtt2pg_dead_letters_pending'), 0), {
      timeoutMs: 10_000,
    });
    assert.equal(await w.metric('mqtt2pg_wal_messages'), 0);
    w.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);
  });
});

describe('a silent PgBouncer', () => {
  test('a PgBouncer that stops answering mid-connection is noticed in seconds and left for a new connection', async (t) => {
    const bouncer = new URL(requireEnv('PGBOUNCER_URL'));
    const proxy = await SilentProxy.start(PROXY_PORT, { host: bouncer.hostname, port: Number(bouncer.port) });
    const p = makePipeline({
      spec: {
        sink: { postgres: { host: '127.0.0.1', port: PROXY_PORT } },
        // One flusher: its connection, open from the first run, is the one that goes silent.
        flusher: { flushers: 1, retry: { initialBackoff: '100ms', maxBackoff: '1s' } },
      },
    });
    const w = WorkerProcess.start(p);
    try {
      await w.waitReady();
      const before = `silent1${randomBytes(3).toString('hex')}`;
      await publish(p.path, before, { count: 500 });
      await allStored(p, before, 500, 30_000);

      // Every open connection goes silent: the flushers' idle connections included.
      proxy.silence();
      const silencedAt = Date.now();
      const during = `silent2${randomBytes(3).toString('hex')}`;
      const summary = await publish(p.path, during, { count: 500 });
      assert.equal(summary.acked, 500, 'the WAL takes them meanwhile');
      const readyz = await eventually(
        async () => {
          const r = await fetch(`http://127.0.0.1:${w.healthPort}/readyz`);
          const body = await r.text();
          assert.equal(r.status, 503, body);
          assert.match(body, /went silent: no answer to BEGIN within 10000 ms|a write has waited \d+ s/);
          return body;
        },
        { timeoutMs: 20_000, what: 'readiness reporting the silent PgBouncer' },
      );
      const noticedMs = Date.now() - silencedAt;
      assert.ok(noticedMs < 20_000, `noticed after ${noticedMs} ms`);
      await eventually(async () => assert.match(w.output, /went silent: no answer to BEGIN/), {
        what: 'the silent connection cut',
      });

      proxy.resume();
      const resumedAt = Date.now();
      // The silenced connections never answer again: only cutting them and connecting anew stores the rows.
      await allStored(p, during, 500, 30_000);
      const recoveredMs = Date.now() - resumedAt;
      await w.waitReady();
      t.diagnostic(`noticed after ${noticedMs} ms (${readyz.trim()}); all stored ${recoveredMs} ms after resuming`);
      w.kill('SIGTERM');
      assert.equal((await w.exited).code, 0);
    } finally {
      w.kill('SIGKILL');
      await proxy.close();
    }
  });
});
