// The worker watches its IngestPipeline in the real kube-apiserver: the autoscaler's flusher count reaches
// it live, without a restart, and a StatefulSet worker learns when its ordinal is scaled away.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { ensureCrd, kubectl, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { allStored } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import { cleanupDirs, makePipeline, WorkerProcess } from '../../lib/worker-process.ts';

const ns = `scale-${randomBytes(3).toString('hex')}`;

before(async () => {
  await ensureCrd();
  const created = await kubectl(['create', 'namespace', ns]);
  assert.equal(created.code, 0, created.stderr);
});

after(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  cleanupDirs();
});

test('a running worker follows status.autoscaling.current.flushers live, within bounds', async () => {
  const p = makePipeline({
    namespace: ns,
    spec: { autoscaling: { enabled: true }, flusher: { flushers: 2, maxFlushers: 6 } },
  });
  const applied = await kubectl(['apply', '-f', p.file]);
  assert.equal(applied.code, 0, applied.stderr);
  const w = WorkerProcess.start(p, { env: { POD_NAMESPACE: ns } });
  await w.waitReady();
  assert.equal(await w.metric('mqtt2pg_flushers'), 2);

  const setFlushers = async (n: number) => {
    const r = await kubectl([
      'patch',
      'ingestpipeline',
      p.name,
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { autoscaling: { current: { flushers: n } } } }),
    ]);
    assert.equal(r.code, 0, r.stderr);
  };
  const flushersBecome = (n: number) =>
    eventually(async () => assert.equal(await w.metric('mqtt2pg_flushers'), n), {
      timeoutMs: 15_000,
      what: `${n} flushers`,
    });

  const pid = w.child.pid;
  const runId = `scale${randomBytes(3).toString('hex')}`;
  const publishing = publish(p.path, runId, { rate: 5000, count: 20_000, devices: 20, tenants: 2, inflight: 200 });
  await setFlushers(5);
  await flushersBecome(5);
  await setFlushers(1);
  await flushersBecome(1);
  await setFlushers(50); // above flusher.maxFlushers: clamped
  await flushersBecome(6);
  await publishing;
  const a = await allStored(p, runId, 20_000, 60_000);
  assert.equal(a.duplicates, 0);
  assert.equal(w.child.pid, pid);
  assert.match(w.output, /"from":2,"to":5,"msg":"flusher count changed by the autoscaler"/);
  w.kill('SIGTERM');
  assert.equal((await w.exited).code, 0);
});

test('a StatefulSet worker whose ordinal is scaled away ends its broker session on SIGTERM; one that stays keeps it', async () => {
  const p = makePipeline({ namespace: ns, spec: { replicas: 2 } });
  const applied = await kubectl(['apply', '-f', p.file]);
  assert.equal(applied.code, 0, applied.stderr);
  const sessionPresent = async (clientId: string) => {
    const probe = mqtt.connect(requireEnv('MQTT_URL'), {
      clientId,
      username: requireEnv('MQTT_USERNAME'),
      password: requireEnv('MQTT_PASSWORD'),
      protocolVersion: 5,
      clean: false,
      reconnectPeriod: 0,
      properties: { sessionExpiryInterval: 0 }, // the probe's own disconnect ends whatever it found
    });
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      probe.once('connect', resolve);
      probe.once('error', reject);
    });
    await probe.endAsync();
    return connack.sessionPresent;
  };
  const run = async (instance: string, replicas: number) => {
    const w = WorkerProcess.start(p, {
      instance,
      env: { POD_NAMESPACE: ns },
      args: ['--wal-dir', `${p.walDir}-${instance}`],
    });
    await w.waitReady();
    const r = await kubectl([
      'patch',
      'ingestpipeline',
      p.name,
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { replicas } }),
    ]);
    assert.equal(r.code, 0, r.stderr);
    if (replicas <= Number(instance.split('-').at(-1))) {
      await eventually(async () => assert.match(w.output, /will end its broker session when it stops/), {
        timeoutMs: 15_000,
        what: `${instance} learning it is scaled away`,
      });
    }
    w.kill('SIGTERM');
    assert.equal((await w.exited).code, 0, w.output.slice(-2000));
  };
  // Ordinal 1 while the pipeline keeps 2 replicas: it stays, so its session survives its stop.
  await run(`${p.name}-worker-1`, 2);
  assert.equal(await sessionPresent(`mqtt2pg-${p.name}-worker-1`), true, 'a staying ordinal keeps its session');
  // Scaled from 2 to 1: ordinal 1 goes for good and must not leave a session taking its share of traffic.
  await run(`${p.name}-worker-1`, 1);
  assert.equal(await sessionPresent(`mqtt2pg-${p.name}-worker-1`), false, 'a scaled-away ordinal ends its session');
});
