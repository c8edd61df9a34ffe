// The worker's stop path against real Mosquitto and PostgreSQL: a SIGTERM while the WAL is full and the
// broker is holding messages for the worker's session; and the stop of a worker whose identity never comes
// back (a Deployment pod), which must end its session rather than strand the broker's queue for it. The worker must stop taking messages (the broker
// keeps them for the session), stay within its WAL limit and its drain budget, and keep the session, so a
// worker restarted under the same identity (client id, WAL directory) receives what the broker held.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import mqtt from 'mqtt';
import pg from 'pg';
import { ENV } from '../../../api/contract.ts';
import { Wal } from '../../../worker/wal.ts';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { allStored, readDeadLetters } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import { cleanupDirs, makePipeline, WorkerProcess } from '../../lib/worker-process.ts';

after(cleanupDirs);

const DRAIN_SECONDS = 8;
const WAL_LIMIT = 2 ** 20;

test('SIGTERM with the WAL full and the broker holding messages: bounded stop, and the restarted worker loses none', async (t) => {
  const p = makePipeline({
    spec: { wal: { sizeLimit: '1Mi' }, flusher: { retry: { initialBackoff: '100ms', maxBackoff: '1s' } } },
  });
  const instance = `${p.name}-0`;
  const w1 = WorkerProcess.start(p, { instance, args: ['--drain-timeout', String(DRAIN_SECONDS)] });
  await w1.waitReady();

  // The table locked in a held transaction: flushers' COPYs wait, nothing commits, the WAL fills.
  const locker = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  await locker.connect();
  const runId = `stop${randomBytes(3).toString('hex')}`;
  const count = 40_000; // about 10 MB of records, ten times the WAL limit
  let publishing: ReturnType<typeof publish> | undefined;
  let ackedBeforeStop = 0;
  let exitMs = 0;
  let walBytes = 0;
  let walMessages = 0;
  try {
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE "${p.table}" IN ACCESS EXCLUSIVE MODE`);
    // QoS 1 load that goes on while the worker stops and is away: the broker queues it for the session.
    publishing = publish(p.path, runId, { count, rate: 4000, devices: 20, tenants: 2, inflight: 200 });
    await eventually(async () => assert.equal(await w1.metric('mqtt2pg_backpressure'), 1), {
      timeoutMs: 30_000,
      what: 'the WAL full (backpressure)',
    });
    ackedBeforeStop = await w1.metric('mqtt2pg_acked_total');

    const stopAt = Date.now();
    w1.kill('SIGTERM');
    const exit = await w1.exited;
    exitMs = Date.now() - stopAt;
    assert.equal(exit.code, 0, w1.output.slice(-3000));
    assert.ok(
      exitMs < (DRAIN_SECONDS + 3) * 1000,
      `exited ${exitMs} ms after SIGTERM; the drain budget is ${DRAIN_SECONDS} s`,
    );
    assert.doesNotMatch(w1.output, /MaxListenersExceededWarning/);

    // What the stopped worker left on disk: its WAL, within the limit, not the broker's backlog.
    const wal = await Wal.open({ dir: p.walDir, sizeLimitBytes: 2 ** 30, retentionMs: 3_600_000 });
    walBytes = wal.bytes;
    walMessages = wal.messages;
    await wal.close();
    assert.ok(walBytes <= WAL_LIMIT * 1.25, `the WAL held ${walBytes} bytes at stop; its limit is ${WAL_LIMIT}`);

    const summary = await publishing;
    assert.equal(summary.acked, count, 'the broker acknowledged every publish');
  } finally {
    await locker.query('COMMIT').catch(() => {});
    await locker.end();
    await publishing?.catch(() => {});
  }

  // The same identity again: the broker resumes the session and delivers what it held; the WAL replays.
  const w2 = WorkerProcess.start(p, { instance });
  await w2.waitReady();
  assert.match(w2.output, /"sessionPresent":true/, 'the broker kept the session');
  const a = await allStored(p, runId, count, 180_000);
  assert.deepEqual(a.inSeveral, []);
  assert.equal((await readDeadLetters(p)).length, 0);
  // Nothing committed before the restart (the table was locked), so w1's WAL held all that w1 acknowledged,
  // and the broker held the rest for the session: the restarted worker must have received all of that.
  const receivedAfter = await w2.metric('mqtt2pg_received_total{qos="1"}');
  const heldByBroker = count - walMessages;
  assert.ok(heldByBroker > 0, `the broker held messages for the session (the WAL had ${walMessages} of ${count})`);
  assert.ok(
    receivedAfter >= heldByBroker,
    `the restarted worker received ${receivedAfter}, the broker held ${heldByBroker} for its session`,
  );
  t.diagnostic(
    `acknowledged by the broker ${count}; acked by the worker before SIGTERM ${ackedBeforeStop}; exit ${exitMs} ms after SIGTERM; ` +
      `WAL at stop ${walBytes} B / ${walMessages} messages; received after restart ${receivedAfter}; ` +
      `stored ${count - a.missing.length}, lost ${a.missing.length}, duplicates ${a.duplicates}`,
  );
  w2.kill('SIGTERM');
  assert.equal((await w2.exited).code, 0, w2.output.slice(-2000));
});

test('SIGTERM of a worker whose identity never comes back (a Deployment pod): it leaves the group and ends its session, the other worker takes the traffic, nothing acknowledged is lost', async (t) => {
  const p = makePipeline({});
  const ephemeral = WorkerProcess.start(p, {
    instance: `${p.name}-eph`,
    env: { [ENV.identity]: 'ephemeral' },
    args: ['--drain-timeout', String(DRAIN_SECONDS)],
  });
  // Its own WAL directory: two workers never share one (the later --wal-dir wins).
  const stable = WorkerProcess.start(p, { instance: `${p.name}-0`, args: ['--wal-dir', `${p.walDir}-0`] });
  await Promise.all([ephemeral.waitReady(), stable.waitReady()]);

  const runId = `eph${randomBytes(3).toString('hex')}`;
  const count = 20_000;
  const publishing = publish(p.path, runId, { count, rate: 4000, devices: 20, tenants: 2, inflight: 200 });
  await eventually(async () => assert.ok((await ephemeral.metric('mqtt2pg_acked_total')) > 1000), {
    timeoutMs: 30_000,
    what: 'the ephemeral worker taking its share',
  });
  const stopAt = Date.now();
  ephemeral.kill('SIGTERM');
  const exit = await ephemeral.exited;
  const exitMs = Date.now() - stopAt;
  assert.equal(exit.code, 0, ephemeral.output.slice(-3000));
  assert.ok(exitMs < (DRAIN_SECONDS + 3) * 1000, `exited ${exitMs} ms after SIGTERM`);
  const summary = await publishing;
  assert.equal(summary.acked, count);

  // Its session is gone: the broker keeps no queue for a client id nobody will use again.
  const probe = mqtt.connect(requireEnv('MQTT_URL'), {
    clientId: `mqtt2pg-${p.name}-eph`,
    username: requireEnv('MQTT_USERNAME'),
    password: requireEnv('MQTT_PASSWORD'),
    protocolVersion: 5,
    clean: false,
    reconnectPeriod: 0,
    properties: { sessionExpiryInterval: 0 },
  });
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    probe.once('connect', resolve);
    probe.once('error', reject);
  });
  await probe.endAsync();
  assert.equal(connack.sessionPresent, false, 'the ephemeral worker ended its session');

  const a = await allStored(p, runId, count, 120_000);
  assert.deepEqual(a.inSeveral, []);
  t.diagnostic(
    `acknowledged ${count}; ephemeral worker exited ${exitMs} ms after SIGTERM; stored ${count - a.missing.length}, lost ${a.missing.length}, duplicates ${a.duplicates}`,
  );
  stable.kill('SIGTERM');
  assert.equal((await stable.exited).code, 0, stable.output.slice(-2000));
});
