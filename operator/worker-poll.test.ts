// The one worker poll against in-process HTTP servers that serve a worker's two listeners (recorded texts of
// /metrics and /subsystems): one pass gives both the autoscaler's signals and the conditions' health, and the
// requests at rest with 1,000 pipelines are counted per interval.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { AUTOSCALER_SERIES as S } from '../api/contract.ts';
import type { IngestPipeline } from '../api/types.ts';
import type { WorkerHealthReport } from '../api/worker-health.ts';
import { pipeline, type SpecOverrides } from '../test/lib/pipelines.ts';
import { Autoscaler, type AutoscalerDeps } from './autoscale/autoscaler.ts';
import { podSample, workerSignals } from './autoscale/signals.ts';
import { PIPELINE_LABEL } from './render/meta.ts';
import type { KubeObject } from './runtime/kube.ts';
import { subsystemConditions } from './subsystem-conditions.ts';
import type { PodObject } from './worker-endpoint.ts';
import { HEALTH_POLL_MS, healthOf, WorkerHealthPoller } from './worker-health.ts';
import { WorkerPoller } from './worker-poll.ts';

const METRICS_TEXT = `# HELP ${S.walMessages} Messages in the WAL.
# TYPE ${S.walMessages} gauge
${S.walMessages}{pipeline="fleet"} 1200
${S.oldestUnflushedAge}{pipeline="fleet"} 3.5
${S.received}{qos="1",pipeline="fleet"} 50000
${S.flushedRows}{pipeline="fleet"} 48800
${S.batchSecondsSum}{pipeline="fleet"} 12.5
${S.batchCount}{pipeline="fleet"} 250
${S.flushers}{pipeline="fleet"} 2
${S.backpressure}{pipeline="fleet"} 0
`;

const REPORT: WorkerHealthReport = {
  instance: 'fleet-0',
  paused: false,
  broker: { connected: true, url: 'mqtt://mosquitto.iot.svc:1883' },
  database: {
    writable: false,
    blocked: {
      code: '42P01',
      message: 'relation "telemetry" does not exist',
      fix: 'run mqtt2pg migrate or let the worker create it',
    },
  },
  deadLetters: { configured: false, available: true, pending: 0 },
  wal: { messages: 1200, bytes: 480_000, sizeLimitBytes: 1 << 30, backpressure: false, volumeLow: false },
};

/** A worker's two listeners, counting what they were asked. */
const asked = { metrics: 0, subsystems: 0 };
let metricsServer: Server;
let healthServer: Server;
const port = (s: Server) => (s.address() as AddressInfo).port;
const listen = (s: Server) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));

before(async () => {
  metricsServer = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    asked.metrics++;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(METRICS_TEXT);
  });
  healthServer = createServer((req, res) => {
    if (req.url !== '/subsystems') return void res.writeHead(404).end();
    asked.subsystems++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(REPORT));
  });
  await Promise.all([listen(metricsServer), listen(healthServer)]);
});

after(() => {
  metricsServer.close();
  healthServer.close();
});

const stored = (name: string, spec: SpecOverrides) => pipeline(spec, name).p as IngestPipeline & KubeObject;

const workerPod = (pipelineName: string, ordinal: number): PodObject => ({
  metadata: {
    name: `${pipelineName}-${ordinal}`,
    namespace: 'iot',
    uid: `${pipelineName}-uid-${ordinal}`,
    labels: { [PIPELINE_LABEL]: pipelineName, 'app.kubernetes.io/component': 'worker' },
  },
  status: { phase: 'Running', podIP: '10.0.0.1' },
});

/** The informers' lists as they stand (the poll only lists). */
const lists = (pipelines: Array<IngestPipeline & KubeObject>, pods: PodObject[]) => ({
  pipelines: { list: () => pipelines },
  pods: { byIndex: () => pods },
  log: { warn: (o: object, msg: string) => assert.fail(`${msg}: ${JSON.stringify(o)}`) },
});

/** Every pod is one of the in-process listeners (the pods' IPs are not this machine's). */
const local = {
  endpoint: (_: PodObject, l: 'metrics' | 'health') => ({
    host: '127.0.0.1',
    port: port(l === 'metrics' ? metricsServer : healthServer),
  }),
};

test('one pass over a pod yields both the autoscaler signals and the subsystem health', async () => {
  const p = stored('fleet', { autoscaling: { enabled: true } });
  const poller = new WorkerPoller(lists([p], [workerPod('fleet', 0)]), local);
  try {
    const before = { ...asked };
    const [pod, ...rest] = await poller.pass(p, ['metrics', 'health']);
    assert.equal(rest.length, 0);
    assert.ok(pod);
    assert.deepEqual(
      { metrics: asked.metrics - before.metrics, subsystems: asked.subsystems - before.subsystems },
      {
        metrics: 1,
        subsystems: 1,
      },
    );

    // The autoscaler's side: the pod's sample, then the signals decide() reads.
    const m = pod.readings.metrics;
    assert.ok(m && 'text' in m, JSON.stringify(m));
    const signals = workerSignals([podSample(pod.pod, pod.uid, pod.atMs, m.text)], new Map());
    assert.equal(signals.pods, 1);
    assert.equal(signals.backlog, 1200);
    assert.equal(signals.oldestUnflushedAgeMs, 3500);
    assert.equal(signals.activeFlushers, 2);
    assert.equal(signals.backpressure, false);

    // The conditions' side: the report, and the condition the user reads from it.
    const health = healthOf(pod);
    assert.deepEqual(health, { pod: 'fleet-0', report: REPORT });
    const conditions = subsystemConditions({
      generation: 1,
      paused: false,
      workersDesired: 1,
      health: [health],
      now: 0,
    });
    const db = conditions.find((c) => c.type === 'DatabaseWritable');
    assert.equal(db?.status, 'False');
    assert.match(db?.message ?? '', /relation "telemetry" does not exist/);
  } finally {
    await poller.stop();
  }
});

test('a listener that refuses or fails is reported per pod and path, the other path still read', async () => {
  const p = stored('fleet', {});
  const closed = createServer();
  await listen(closed);
  const refused = port(closed);
  closed.close();
  const poller = new WorkerPoller(lists([p], [workerPod('fleet', 0)]), {
    endpoint: (_, l) => ({ host: '127.0.0.1', port: l === 'metrics' ? refused : port(healthServer) }),
  });
  try {
    const [pod] = await poller.pass(p, ['metrics', 'health']);
    assert.deepEqual(pod?.readings.metrics, {
      url: `http://127.0.0.1:${refused}/metrics`,
      error: 'ECONNREFUSED',
    });
    assert.deepEqual(pod && healthOf(pod), { pod: 'fleet-0', report: REPORT });
  } finally {
    await poller.stop();
  }
});

/**
 * Requests at rest: 1,000 pipelines of one worker pod each, ticked over 15 s of the poll's clock (1 s ticks:
 * three health intervals, one default autoscaling interval), with the real consumers: the health conditions
 * and the autoscaler. The autoscaler has no client and no Secrets here: a round that gets past the pass fails
 * at its first write and is logged nowhere; only the requests it made count.
 */
async function atRest(spec: SpecOverrides, withPods: boolean) {
  // Each on a database of its own: a round's sum over the other pipelines on its database stays short.
  const own = (i: number) => ({ postgres: { host: `pg-${i}.db.svc`, credentialsSecretRef: { name: 'pg-creds' } } });
  const pipelines = Array.from({ length: 1000 }, (_, i) => stored(`p${i}`, { sink: own(i), ...spec }));
  const pods = withPods ? pipelines.map((p) => workerPod(p.metadata.name, 0)) : [];
  let now = 1_000_000;
  const poller = new WorkerPoller(lists(pipelines, pods), { ...local, now: () => now });
  const health = new WorkerHealthPoller({ changed: () => {} }, {});
  const autoscaler = new Autoscaler(
    {
      pipelines: {
        list: () => pipelines,
        get: (key: string) => pipelines.find((p) => `iot/${p.metadata.name}` === key),
      },
      pods: { byIndex: () => pods },
      log: { warn: () => {}, child: () => ({}) },
    } as unknown as AutoscalerDeps,
    { now: () => now },
  );
  poller.add(health);
  poller.add(autoscaler);
  const seconds = 15;
  try {
    for (let s = 0; s < seconds; s++) {
      poller.tick();
      await poller.settled();
      now += 1_000;
    }
  } finally {
    await poller.stop();
    await autoscaler.stop();
  }
  const perInterval = (n: number) => Math.round((n * HEALTH_POLL_MS) / (seconds * 1000));
  // Counted as sent (a request the loaded test machine answers late still went out).
  return { subsystems: perInterval(poller.requests.health), metrics: perInterval(poller.requests.metrics) };
}

test('at rest, 1,000 paused pipelines cost one /subsystems per pod per 5 s and no /metrics', async () => {
  const counts = await atRest({ paused: true, autoscaling: { enabled: true } }, true);
  assert.deepEqual(counts, { subsystems: 1000, metrics: 0 });
});

test('1,000 autoscaled pipelines add one /metrics per pod per autoscaling interval (15 s): 333 per 5 s', async () => {
  const counts = await atRest({ autoscaling: { enabled: true } }, true);
  assert.deepEqual(counts, { subsystems: 1000, metrics: 333 });
});

test('at rest, 1,000 pipelines scaled to zero cost no request', async () => {
  const counts = await atRest({ paused: true, replicas: 0 }, false);
  assert.deepEqual(counts, { subsystems: 0, metrics: 0 });
});
