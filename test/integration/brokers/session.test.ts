// How the worker's broker session behaves on brokers other than the environment's Mosquitto (issue #13):
// resuming a session with a backlog on Comqtt and Mochi (their SUBSCRIBE packet-id check), a session the
// broker lost on a restart (Mosquitto without persistence), and a broker slow to answer CONNACK.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { TestBroker } from '../../lib/brokers.ts';
import { eventually } from '../../lib/eventually.ts';
import { allStored } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import { cleanupDirs, makePipeline, type TestPipeline, WorkerProcess } from '../../lib/worker-process.ts';

after(cleanupDirs);

const onBroker = (b: TestBroker, extra: Parameters<typeof makePipeline>[0] = {}) =>
  makePipeline({ tag: b.kind, ...extra, spec: { ...extra.spec, source: { brokers: [b.url], ...extra.spec?.source } } });

const publishTo = (b: TestBroker, p: TestPipeline, runId: string, count: number) =>
  publish(p.path, runId, { url: b.url, count, inflight: 100 });

async function stopGracefully(w: WorkerProcess) {
  w.kill('SIGTERM');
  assert.equal((await w.exited).code, 0, w.output.slice(-3000));
}

for (const kind of ['comqtt', 'mochi'] as const) {
  describe(`${kind}: resuming a session that holds messages`, () => {
    test('the worker subscribes again with a packet id the broker is not using and takes in the backlog', async () => {
      const broker = await TestBroker.start(kind);
      try {
        const p = onBroker(broker);
        let w = WorkerProcess.start(p);
        await w.waitReady();
        w.kill('SIGKILL');
        await w.exited;
        // Queued for the disconnected session: the broker gives them its packet ids 1, 2, ... at once, and
        // refuses (0x91) a SUBSCRIBE whose id one of them holds.
        const runId = `resume${randomBytes(3).toString('hex')}`;
        const count = 300;
        const sent = await publishTo(broker, p, runId, count);
        assert.equal(sent.acked, count);
        w = WorkerProcess.start(p);
        await w.waitReady();
        const a = await allStored(p, runId, count, 60_000);
        assert.deepEqual(a.inSeveral, []);
        await stopGracefully(w);
      } finally {
        await broker.stop();
      }
    });
  });
}

describe('a broker that lost the session', () => {
  test('a reconnect without the session is a warning, a metric and a readiness note; traffic flows again', async () => {
    const broker = await TestBroker.start('mosquitto');
    try {
      const p = onBroker(broker);
      const w = WorkerProcess.start(p);
      await w.waitReady();
      assert.equal(await w.metric('mqtt2pg_broker_session_lost_total'), 0);
      await broker.restart(); // no persistence: every session is gone
      await eventually(
        async () => assert.equal(await w.metric('mqtt2pg_broker_session_lost_total'), 1, 'session lost counted'),
        { timeoutMs: 30_000, what: 'the lost session counted' },
      );
      const lines = w.output.split('\n').filter((l) => l.includes('broker session was lost'));
      assert.equal(lines.length, 1, w.output.slice(-3000));
      const line = JSON.parse(lines[0] as string) as { level: string; msg: string; broker: string };
      assert.ok(['warn', 'error'].includes(line.level), `logged at warn or above: ${lines[0]}`);
      assert.match(line.msg, /messages the broker held for this worker while it was disconnected may be lost/);
      assert.equal(line.broker, broker.url);
      await w.waitReady();
      const ready = await (await fetch(`http://127.0.0.1:${w.healthPort}/readyz`)).text();
      assert.match(ready, /broker session lost 1 time/);
      const runId = `lost${randomBytes(3).toString('hex')}`;
      await publishTo(broker, p, runId, 200);
      await allStored(p, runId, 200, 30_000);
      await stopGracefully(w);
    } finally {
      await broker.stop();
    }
  });
});

/** A TCP proxy to `target` that holds back the broker's bytes on its first `stalled` connections. */
async function stallingProxy(target: URL, stalled: number): Promise<{ server: Server; url: string }> {
  let seen = 0;
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const stall = seen++ < stalled;
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    sockets.push(client, upstream);
    client.pipe(upstream);
    if (!stall) upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  const addr = server.address() as { port: number };
  return { server, url: `mqtt://127.0.0.1:${addr.port}` };
}

describe('a broker slow to answer CONNACK', () => {
  test('the startup waits for it with backoff instead of exiting as if the configuration were wrong', async () => {
    const broker = await TestBroker.start('mosquitto');
    const proxy = await stallingProxy(new URL(broker.url), 2);
    try {
      const p = makePipeline({ tag: 'slow', spec: { source: { brokers: [proxy.url], connectTimeout: '1s' } } });
      const w = WorkerProcess.start(p);
      await w.waitReady(30_000);
      const waits = w.output.split('\n').filter((l) => l.includes('sent no CONNACK'));
      assert.equal(waits.length, 2, w.output.slice(-3000));
      assert.match(waits[0] as string, /source\.connectTimeout/);
      const runId = `slow${randomBytes(3).toString('hex')}`;
      await publishTo(broker, p, runId, 100);
      await allStored(p, runId, 100, 30_000);
      await stopGracefully(w);
    } finally {
      proxy.server.close();
      await broker.stop();
    }
  });
});
