// The autoscaler live, on the real services of `make test-env`: a real kube-apiserver, PostgreSQL, PgBouncer,
// Mosquitto, and a real `mqtt2pg worker` process. There is no kubelet, so the test plays it: the worker runs
// as a local process, and a Pod object (status.podIP 127.0.0.1, container port `metrics` = the worker's
// metrics port) makes the operator scrape it. The operator runs in this process with one override: the
// PgBouncer admin console is a pgbouncer process this test runs from the files the operator rendered (its
// ConfigMap and auth Secret; test/lib/pgbouncer-process.ts), entered with the operator's own admin Secret.
//
// PostgreSQL is made slow per transaction (a statement trigger sleeping 50 ms on the pipeline's table), so a
// single flusher cannot keep up with the load and the flusher count is what decides the backlog:
//   1. load the starting size cannot absorb → flushers go up, the backlog drains while the load goes on;
//   2. a competing transaction holds a lock on the table → no step up, it backs off;
//   3. the load stops → it scales down to the minimum.
// AUTOSCALE_TIMELINE=FILE writes the timeline (time, flushers, backlog) as JSON for docs/autoscaling.md.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { EventRecorder } from '../../../operator/events.ts';
import { Manager } from '../../../operator/manager.ts';
import { OperatorMetrics } from '../../../operator/metrics.ts';
import { labels } from '../../../operator/render/meta.ts';
import type { KubeObject } from '../../../operator/runtime/kube.ts';
import { runLoadgen } from '../../../worker/loadgen.ts';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { freePort } from '../../lib/free-port.ts';
import {
  apply,
  applySecrets,
  createNamespace,
  deleteNamespace,
  ensureCrd,
  kubeClient,
  markWorkloadReady,
  paths,
  writersBeyondStatus,
} from '../../lib/kube.ts';
import { type PgBouncerProcess, startRenderedPgBouncer } from '../../lib/pgbouncer-process.ts';
import { envPipeline, envSecrets, type SpecOverrides } from '../../lib/pipelines.ts';
import {
  cleanupDirs,
  makePipeline,
  rewritePipeline,
  type TestPipeline,
  WorkerProcess,
} from '../../lib/worker-process.ts';

const client = await kubeClient();
const RATE = 2000;
const LOAD_MS = 40_000;
const LOCK_MS = 14_000;

interface AutoscalingStatus {
  current?: { flushers?: number; poolSize?: number; replicas?: number };
  desired?: { flushers?: number };
  reason?: string;
  lastChangeTime?: string;
  signals?: { decision?: string; backlog?: number; postgresLockWaits?: number };
}
type Pipeline = KubeObject & { status?: { autoscaling?: AutoscalingStatus; flushers?: number } };

interface Point {
  t: number;
  /** status.autoscaling.current.flushers */
  flushers?: number;
  /** what the worker runs (mqtt2pg_flushers) */
  running?: number;
  backlog?: number;
  decision?: string;
  phase: string;
}

let ns: string;
let tp: TestPipeline;
let worker: WorkerProcess;
let manager: Manager;
let metricsPort: number;
const logs: string[] = [];
const timeline: Point[] = [];
let phase = 'start';
const t0 = Date.now();
let restarts = 0;

/** The pipeline's PgBouncer, run from the operator's render (helper port range 61000 + 100*5). */
const BOUNCER_PORT = 61501;
let bouncer: PgBouncerProcess | undefined;

const flusherSpec = { batchSize: 50, flushInterval: '20ms', flushers: 1, minFlushers: 1, maxFlushers: 4 };

function startWorker(flushers: number): WorkerProcess {
  // The pipeline file as the pod would get it, in the test namespace (a worker that watches its pipeline
  // finds it by this name and namespace; POD_NAMESPACE and KUBECONFIG are inherited).
  rewritePipeline(tp, { namespace: ns, spec: { flusher: { flushers } } });
  process.env.POD_NAMESPACE = ns;
  process.env.POD_NAME = `${tp.name}-worker-0`;
  return WorkerProcess.start(tp, { instance: `${tp.name}-worker-0`, args: ['--metrics-port', String(metricsPort)] });
}

const pipelinePath = () => paths.pipeline(ns, tp.name);
const getPipeline = () => client.request<Pipeline>('GET', pipelinePath());

before(async () => {
  await ensureCrd();
  ns = await createNamespace('as');
  tp = makePipeline({ dlq: false, spec: { flusher: flusherSpec, terminationGracePeriodSeconds: 10 } });
  metricsPort = await freePort();
  worker = startWorker(1);
  await worker.waitReady();

  // PostgreSQL slow per transaction: every COPY statement into the pipeline's table costs 50 ms more.
  const admin = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  await admin.connect();
  await admin.query(`CREATE OR REPLACE FUNCTION ${tp.table}_slow() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$`);
  await admin.query(
    `CREATE TRIGGER slow AFTER INSERT ON ${tp.table} FOR EACH STATEMENT EXECUTE FUNCTION ${tp.table}_slow()`,
  );
  await admin.end();

  await applySecrets(ns, envSecrets());
  const spec: SpecOverrides = {
    sink: {
      // Pinned: this test is about flushers; the pool size stays what the rendered pgbouncer.ini says.
      pgbouncer: { enabled: true, poolSize: 20 },
    },
    flusher: flusherSpec,
    terminationGracePeriodSeconds: 10,
    autoscaling: {
      enabled: true,
      interval: '1s',
      minReplicas: 1,
      maxReplicas: 1,
      minPoolSize: 20,
      maxPoolSize: 20,
      targetOldestUnflushedAge: '3s',
      targetCommitLatency: '250ms',
      scaleUpCooldown: '2s',
      scaleDownCooldown: '4s',
    },
  };
  // sink.postgres is PostgreSQL itself: where the pipeline's PgBouncer would point, and what the autoscaler monitors.
  await apply(ns, envPipeline({ id: tp.id, namespace: ns, direct: true, dlq: false, spec }).doc);

  // The worker pod, as the kubelet would report it.
  const pod = await client.request<KubeObject>('POST', `/api/v1/namespaces/${ns}/pods`, {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${tp.name}-worker-0`, labels: labels(tp.name, 'worker') },
      spec: {
        automountServiceAccountToken: false,
        containers: [
          { name: 'worker', image: 'mqtt2pg:test', ports: [{ name: 'metrics', containerPort: metricsPort }] },
        ],
      },
    },
  });
  await client.request('PATCH', `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}/status`, {
    body: {
      status: {
        phase: 'Running',
        podIP: '127.0.0.1',
        podIPs: [{ ip: '127.0.0.1' }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    },
    contentType: 'application/merge-patch+json',
  });

  const log = pino(
    { level: 'info' },
    {
      write: (line: string) => {
        logs.push(line);
      },
    },
  );
  const events = new EventRecorder(client, 'autoscale-it', () => {});
  manager = new Manager(
    client,
    {
      namespaces: [ns],
      concurrency: 2,
      resyncMs: 60_000,
      render: {},
      autoscale: { pgbouncerEndpoints: () => [{ host: '127.0.0.1', port: BOUNCER_PORT }] },
    },
    { log, metrics: new OperatorMetrics(), events },
  );
  await manager.start();
  await eventually(() => client.request('GET', paths.statefulset(ns, `${tp.name}-worker`)), { what: 'workload' });
  await eventually(() => client.request('GET', paths.secret(ns, `${tp.name}-pgbouncer-admin`)), { what: 'admin' });
  bouncer = await startRenderedPgBouncer(client, ns, tp.name, BOUNCER_PORT);
  await markWorkloadReady(client, paths.deployment(ns, `${tp.name}-pgbouncer`));
  await markWorkloadReady(client, paths.statefulset(ns, `${tp.name}-worker`));
});

after(async () => {
  await manager?.stop();
  await bouncer?.stop();
  worker?.kill('SIGKILL');
  cleanupDirs();
  client.close();
  if (process.env.AUTOSCALE_TIMELINE) writeFileSync(process.env.AUTOSCALE_TIMELINE, JSON.stringify(timeline, null, 1));
  if (ns) await deleteNamespace(ns);
});

/**
 * Every 500 ms: what status asks for and what the worker runs. A worker that applies the flusher count from
 * its IngestPipeline does so within seconds; one that does not yet is restarted with the new count in its
 * file, as the pod roll would (FLUSHERS_APPLY_LIVE=false); `restarts` says which happened.
 */
function record(): () => Promise<void> {
  let stop = false;
  let mismatchSince: number | undefined;
  const loop = (async () => {
    while (!stop) {
      const p = await getPipeline().catch(() => undefined);
      const a = p?.status?.autoscaling;
      const m = await worker.metrics().catch(() => undefined);
      const point: Point = {
        t: Math.round((Date.now() - t0) / 100) / 10,
        phase,
        ...(a?.current?.flushers !== undefined ? { flushers: a.current.flushers } : {}),
        ...(m ? { running: m.get('mqtt2pg_flushers'), backlog: m.get('mqtt2pg_wal_messages') } : {}),
        ...(a?.signals?.decision ? { decision: a.signals.decision } : {}),
      };
      timeline.push(point);
      const want = a?.current?.flushers;
      if (want !== undefined && point.running !== undefined && want !== point.running) {
        mismatchSince ??= Date.now();
        if (Date.now() - mismatchSince > 4_000) {
          restarts++;
          worker.kill('SIGTERM');
          await worker.exited;
          worker = startWorker(want);
          await worker.waitReady(60_000);
          mismatchSince = undefined;
        }
      } else {
        mismatchSince = undefined;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return async () => {
    stop = true;
    await loop;
  };
}

const history = () => timeline.filter((x) => x.decision);
const during = (name: string) => timeline.filter((x) => x.phase === name);

async function events(): Promise<Array<{ reason: string; message: string; type: string }>> {
  const list = await client.request<{ items: Array<{ reason: string; message: string; type: string }> }>(
    'GET',
    `/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name=${tp.name}`,
  );
  return list.items;
}

test('flushers follow the backlog, back off from a locked table, and return to the minimum', async () => {
  const stopRecording = record();
  try {
    phase = 'load';
    const load = runLoadgen({
      url: requireEnv('MQTT_URL'),
      username: requireEnv('MQTT_USERNAME'),
      password: requireEnv('MQTT_PASSWORD'),
      rate: RATE,
      durationMs: LOAD_MS + LOCK_MS,
      devices: 50,
      tenants: 2,
      qos: 1,
      payloadBytes: 120,
      malformedRatio: 0,
      connections: 2,
      inflight: 100,
      protocolVersion: 5,
      runId: tp.name,
      pathPrefix: tp.path,
    });

    // 1. Under a load one flusher cannot absorb, the autoscaler adds flushers and the backlog drains.
    await eventually(
      async () => {
        const p = await getPipeline();
        assert.ok(
          (p.status?.autoscaling?.current?.flushers ?? 0) >= 3,
          `flushers ${p.status?.autoscaling?.current?.flushers}`,
        );
      },
      { what: 'flushers raised to 3 or more', timeoutMs: LOAD_MS - 5_000, intervalMs: 500 },
    );
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + LOAD_MS - Date.now())));
    const loaded = during('load').filter((x) => x.backlog !== undefined);
    const peak = Math.max(...loaded.map((x) => x.backlog ?? 0));
    const lastBacklog = loaded.at(-1)?.backlog ?? Number.POSITIVE_INFINITY;
    assert.ok(peak > 2_000, `the starting size could not absorb the load (peak backlog ${peak})`);
    assert.ok(lastBacklog < peak / 4, `backlog drained under load: ${lastBacklog} of a ${peak} peak`);
    const before = (await getPipeline()).status?.autoscaling?.current?.flushers ?? 0;

    // 2. A competing transaction holds a lock the flushers need: no step up, and it backs off.
    phase = 'locked';
    const locker = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE ${tp.table} IN SHARE MODE`);
    await new Promise((r) => setTimeout(r, LOCK_MS));
    await locker.query('ROLLBACK');
    await locker.end();
    phase = 'released';
    const locked = during('locked');
    assert.ok(
      locked.some((x) => x.decision === 'BackOff' || x.decision === 'HoldSaturatedCooldown'),
      `saw the lock: ${[...new Set(locked.map((x) => x.decision))].join(', ')}`,
    );
    assert.ok(!locked.some((x) => x.decision === 'ScaleUp'), 'no step up while PostgreSQL is saturated');
    const lowest = Math.min(...locked.map((x) => x.flushers ?? before));
    assert.ok(lowest < before, `backed off from ${before} flushers (lowest ${lowest})`);
    await load;

    // 3. The load is over: once the backlog is drained, down one step per cooldown to the minimum.
    phase = 'drain';
    await eventually(
      async () => {
        const p = await getPipeline();
        assert.equal(p.status?.autoscaling?.current?.flushers, 1);
        assert.equal(p.status?.autoscaling?.signals?.decision, 'HoldAtMinimum');
      },
      { what: 'scaled down to the minimum', timeoutMs: 75_000, intervalMs: 500 },
    );
  } finally {
    await stopRecording();
  }

  const evs = await events();
  const reasons = evs.map((e) => e.reason);
  assert.ok(reasons.includes('ScaledUp'), `ScaledUp Event: ${reasons.join(', ')}`);
  assert.ok(reasons.includes('BackedOff'), `BackedOff Event: ${reasons.join(', ')}`);
  assert.ok(reasons.includes('ScaledDown'), `ScaledDown Event: ${reasons.join(', ')}`);
  const backedOff = evs.find((e) => e.reason === 'BackedOff');
  assert.match(backedOff?.message ?? '', /wait for locks/);
  assert.equal(backedOff?.type, 'Warning');

  // The decisions left a readable trace, and the spec was never written.
  const p = await getPipeline();
  assert.match(p.status?.autoscaling?.reason ?? '', /at the minimum sizes/);
  assert.equal(p.metadata.generation, 1);
  assert.deepEqual(writersBeyondStatus(p), []);

  const decisions = history().map((x) => x.decision);
  const summary = timeline
    .filter((_, i) => i % 4 === 0)
    .map((x) => `${x.t}s ${x.phase} flushers=${x.flushers} running=${x.running} backlog=${x.backlog} ${x.decision}`);
  console.log(`flusher changes applied by ${restarts === 0 ? 'the worker, live' : `${restarts} worker restarts`}`);
  console.log(summary.join('\n'));
  assert.ok(decisions.length > 0);
});
