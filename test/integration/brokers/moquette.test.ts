// Moquette 0.17, the newest Moquette Maven Central serves here, against the worker: what it lacks, proved on
// the broker itself (docs/brokers.md). It answers an MQTT 5 CONNECT with MQTT 3.1.1's "unacceptable
// protocol version", and on MQTT 3.1.1 it grants a $share/ subscription as a plain filter that no topic
// matches: acknowledged messages reach nobody. Shared subscriptions and MQTT 5 came with Moquette 0.18.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { TestBroker } from '../../lib/brokers.ts';
import { eventually } from '../../lib/eventually.ts';
import { publish } from '../../lib/publish.ts';
import { cleanupDirs, makePipeline, WorkerProcess } from '../../lib/worker-process.ts';

after(cleanupDirs);

describe('moquette 0.17', () => {
  test('an MQTT 5 worker stops at startup and says the broker does not speak MQTT 5', async () => {
    const broker = await TestBroker.start('moquette');
    try {
      const p = makePipeline({ tag: 'moq5', spec: { source: { brokers: [broker.url] } } });
      const w = WorkerProcess.start(p);
      const exit = await w.exited;
      assert.equal(exit.code, 1, w.output.slice(-3000));
      assert.match(w.output, /does not speak MQTT 5.*source\.protocolVersion: 4/);
    } finally {
      await broker.stop();
    }
  });

  test('on MQTT 3.1.1 it grants the shared subscription and delivers none of the messages it acknowledged', async () => {
    const broker = await TestBroker.start('moquette');
    const p = makePipeline({ tag: 'moq4', spec: { source: { brokers: [broker.url], protocolVersion: 4 } } });
    const w = WorkerProcess.start(p);
    // A plain subscriber on the same filter: what it receives, the broker has routed.
    const plain = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: `plain-${p.name}` });
    try {
      await w.waitReady();
      let routed = 0;
      plain.on('message', () => routed++);
      await plain.subscribeAsync(`t/+/d/+/evt/${p.path}/#`, { qos: 1 });
      const count = 200;
      const runId = `moq${randomBytes(3).toString('hex')}`;
      const sent = await publish(p.path, runId, { url: broker.url, count, protocolVersion: 4, inflight: 50 });
      assert.equal(sent.acked, count);
      await eventually(async () => assert.equal(routed, count), { timeoutMs: 30_000, what: 'the plain subscriber' });
      assert.equal(await w.metric('mqtt2pg_received_total{qos="1"}'), 0, 'the $share/ subscriber received nothing');
      w.kill('SIGTERM');
      assert.equal((await w.exited).code, 0, w.output.slice(-3000));
    } finally {
      w.kill('SIGKILL');
      await plain.endAsync();
      await broker.stop();
    }
  });
});
