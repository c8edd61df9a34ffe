// The end-to-end scenarios of the kind suite, on the local cluster: the test environment's kube-apiserver,
// the operator as a process, and test/local-cluster/pod-runner.ts playing kubelet, the Deployment controller
// and the garbage collector, so worker pods are real `mqtt2pg worker` processes against the real Mosquitto,
// PgBouncer, PostgreSQL and MinIO. apply → rows land; kill -9 a worker → no loss; change the spec → the pods
// roll (under load, without loss); delete → children and processes gone.
//
// The main pipeline has sink.pgbouncer.enabled false and points sink.postgres at the test environment's
// PgBouncer (transaction pooling); the last scenario runs the operator's own PgBouncer as a pod, which the
// worker reaches by its Service name through the runner's stand-in for cluster DNS (cluster-dns.ts).
// Persistent WAL pipelines (StatefulSet + PVC per pod) have a scenario of their own.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import pg from 'pg';
import { kubectl, REPO_ROOT, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import {
  apply,
  applySecrets,
  condition,
  createNamespace,
  deleteNamespace,
  ensureCrd,
  type OperatorProcess,
  type PipelineObject,
  startOperator,
} from '../../lib/kube.ts';
import { allStored } from '../../lib/ledger.ts';
import { seriesValues } from '../../lib/metrics-text.ts';
import { envPipeline, envSecrets, type SpecOverrides } from '../../lib/pipelines.ts';
import { publish } from '../../lib/publish.ts';
import { PodRunner } from '../../local-cluster/pod-runner.ts';

/** The main pipeline's names; the other scenarios' pipelines share its topic level and tables. */
const targetNames = { tag: 'e2e', id: randomBytes(3).toString('hex'), dlq: 'e2e-local/' };
const target = envPipeline(targetNames);
const { id, name, path } = target;
const replicas = 2;
const dir = mkdtempSync(join(tmpdir(), `mqtt2pg-local-cluster-${id}-`));

const kc = new KubeConfig();
kc.loadFromFile(requireEnv('KUBECONFIG'));
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

let ns = '';
/** The later Deployment scenarios build on the first one's pipeline. */
let applied = false;
let runner: PodRunner;
let op: OperatorProcess;
const runnerLog: string[] = [];

function pipeline(
  flusher: SpecOverrides['flusher'] = {},
  o: { name?: string; wal?: SpecOverrides['wal']; replicas?: number; pgbouncer?: boolean } = {},
) {
  // With the operator's PgBouncer, the pipeline names PostgreSQL itself; without, the environment's PgBouncer.
  return envPipeline({
    ...targetNames,
    name: o.name,
    namespace: ns,
    direct: o.pgbouncer,
    spec: {
      replicas: o.replicas ?? replicas,
      wal: o.wal,
      sink: o.pgbouncer ? { pgbouncer: { enabled: true, replicas: 1, poolSize: 4 } } : {},
      flusher,
      terminationGracePeriodSeconds: 30,
    },
  }).doc;
}

const getPipeline = async (pipelineName = name) => {
  const r = await kubectl(['get', 'ingestpipeline', pipelineName, '-n', ns, '-o', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as PipelineObject;
};
const workerPods = async (pipelineName = name) =>
  (await core.listNamespacedPod({ namespace: ns, labelSelector: `mqtt2pg.io/pipeline=${pipelineName}` })).items.filter(
    (p) => !p.metadata?.deletionTimestamp,
  );
const podReady = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const names = (pods: V1Pod[]) => pods.map((p) => p.metadata?.name ?? '').sort();

async function awaitPipelineReady(generation?: number, pipelineName = name, want = replicas, timeoutMs = 90_000) {
  return eventually(
    async () => {
      const p = await getPipeline(pipelineName);
      if (generation !== undefined) assert.equal(p.status?.observedGeneration, generation, 'observedGeneration');
      assert.equal(condition(p, 'Ready')?.status, 'True', `Ready: ${condition(p, 'Ready')?.message}`);
      assert.equal(
        condition(p, 'Progressing')?.status,
        'False',
        `Progressing: ${condition(p, 'Progressing')?.message}`,
      );
      assert.equal(p.status?.readyReplicas, want);
      return p;
    },
    { timeoutMs, intervalMs: 250, what: 'pipeline Ready=True, rollout complete' },
  );
}

/** The sum of a worker counter over every running worker pod, scraped at its pod IP like Prometheus would. */
async function workersMetric(series: string): Promise<number> {
  let sum = 0;
  for (const p of runner.pods()) {
    const text = await (await fetch(`http://${p.ip}:9090/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    sum += seriesValues(text).get(series) ?? 0;
  }
  return sum;
}

function load(runId: string, count: number, rate: number) {
  return publish(path, runId, { count, rate });
}

async function awaitAllStored(runId: string, count: number) {
  const a = await allStored(target, runId, count);
  assert.deepEqual(a.inSeveral, [], 'no message in two destinations');
  return a;
}

/** Runs a scenario, records its duration, and on failure prints every pod's and the operator's logs. */
async function scenario(t: TestContext, body: () => Promise<void>) {
  const started = performance.now();
  try {
    await body();
  } catch (err) {
    const state = await kubectl(['get', 'ingestpipelines,deployments,pods,configmaps', '-n', ns, '-o', 'wide']);
    const events = await kubectl(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp']);
    const report = [
      `==== ${t.name} failed: state of namespace ${ns}`,
      state.stdout + state.stderr,
      events.stdout,
      '==== pod runner',
      ...runnerLog.slice(-60),
      '==== pod processes (per container start)',
      runner.logs(30),
      '==== operator (last 40 lines)',
      ...op.logs.slice(-40),
    ].join('\n');
    writeFileSync(join(dir, 'failure.txt'), report);
    console.error(report);
    throw err;
  } finally {
    t.diagnostic(`${t.name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

describe('local cluster: operator + pod runner + real services', { timeout: 600_000 }, () => {
  before(async () => {
    await ensureCrd();
    ns = await createNamespace('e2e-local');
    await applySecrets(ns, envSecrets());
    runner = new PodRunner({
      kubeconfig: requireEnv('KUBECONFIG'),
      namespace: ns,
      dir: join(dir, 'node'),
      repoRoot: REPO_ROOT,
      log: (l) => runnerLog.push(l),
    });
    await runner.start();
    op = startOperator([
      '--watch-namespace',
      ns,
      '--lease-namespace',
      ns,
      '--worker-image',
      'mqtt2pg:local',
      '--resync',
      '1m',
    ]);
    await op.waitForLog(/caches synced/);
  });

  after(async () => {
    await runner?.stop();
    const code = await op?.stop();
    if (ns) await deleteNamespace(ns);
    assert.equal(code, 0, `operator exit code; last logs:\n${op?.logs.slice(-10).join('\n')}`);
    rmSync(dir, { recursive: true, force: true });
  });

  test('apply: the operator creates the workers, they run as pods, the pipeline is Ready and rows land', async (t) =>
    scenario(t, async () => {
      const t0 = performance.now();
      await apply(ns, pipeline());
      await eventually(() => apps.readNamespacedDeployment({ name: `${name}-worker`, namespace: ns }), {
        what: 'worker Deployment created by the operator',
      });
      const created = seconds(t0);
      const ready = await awaitPipelineReady(1);
      const readyAfter = seconds(t0);
      assert.equal(condition(ready, 'Degraded')?.status, 'False');
      const pods = await workerPods();
      assert.equal(pods.length, replicas);
      assert.equal(new Set(pods.map((p) => p.status?.podIP)).size, replicas, 'every pod has its own address');
      for (const p of pods) {
        assert.equal(p.status?.phase, 'Running');
        assert.match(p.status?.podIP ?? '', /^127\.0\.0\.\d+$/);
        assert.equal((await fetch(`http://${p.status?.podIP}:8081/readyz`)).status, 200);
      }
      const table = await kubectl(['get', 'ingp', '-n', ns, name]);
      assert.match(table.stdout, new RegExp(`${name}\\s+True\\s+${replicas}`));

      const runId = `apply${id}`;
      const count = 20_000;
      const t1 = performance.now();
      const summary = await load(runId, count, 5000);
      assert.equal(summary.acked, count, 'the broker acknowledged every publish');
      const a = await awaitAllStored(runId, count);
      t.diagnostic(
        `Deployment after ${created}, Ready=True after ${readyAfter}; ${count} messages published and stored in ${seconds(t1)} (${a.duplicates} duplicates)`,
      );
      applied = true;
      // Both workers took part in the shared subscription.
      for (const p of runner.pods()) {
        const text = await (await fetch(`http://${p.ip}:9090/metrics`)).text();
        const m = /^mqtt2pg_acked_total\{[^}]*\} (\d+)/m.exec(text);
        assert.ok(Number(m?.[1] ?? 0) > 0, `pod ${p.name} acknowledged messages`);
      }
    }));

  test('kill -9 of a worker mid-load: restarted in the same pod with the same WAL, no message lost', async (t) => {
    assert.ok(applied, 'needs the apply scenario, which failed');
    return scenario(t, async () => {
      const [victim] = runner.pods();
      assert.ok(victim, 'a worker pod runs');
      const before = (await workerPods()).find((p) => p.metadata?.name === victim.name);
      const runId = `kill${id}`;
      const count = 40_000;
      const receivedBefore = await workersMetric('mqtt2pg_received_total{qos="1"}');
      const publishing = load(runId, count, 5000);
      await eventually(
        async () => {
          const n = (await workersMetric('mqtt2pg_received_total{qos="1"}')) - receivedBefore;
          if (n < count * 0.3) throw new Error(`received ${n}`);
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'the workers receiving 30% of the run' },
      );
      const killedAt = performance.now();
      assert.ok(runner.signal(victim.name, 'SIGKILL'), 'the worker process was running');
      const restarted = await eventually(
        async () => {
          const p = await core.readNamespacedPod({ name: victim.name, namespace: ns });
          const s = p.status?.containerStatuses?.[0];
          assert.equal(s?.restartCount, 1, 'restartCount');
          assert.equal(s?.lastState?.terminated?.exitCode, 137, 'last exit: SIGKILL');
          assert.ok(podReady(p), 'ready again');
          return p;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'the killed worker restarted and ready' },
      );
      const backAfter = seconds(killedAt);
      assert.equal(restarted.metadata?.uid, before?.metadata?.uid, 'the same pod');
      assert.equal(restarted.status?.podIP, before?.status?.podIP, 'the same pod IP');
      const info = runner.pods().find((p) => p.name === victim.name);
      assert.equal(info?.dir, victim.dir, 'the same pod directory, so the same WAL emptyDir');
      assert.match(runner.logs(400), /replaying the WAL before new messages/);
      const summary = await publishing;
      assert.equal(summary.acked, count, 'the broker acknowledged every publish');
      const a = await awaitAllStored(runId, count);
      await awaitPipelineReady();
      t.diagnostic(
        `killed ${victim.name} after ${Math.round(count * 0.3)}+ messages; ready again after ${backAfter}; all ${count} stored, ${a.duplicates} duplicates (at-least-once)`,
      );
    });
  });

  test('spec change (flusher.batchSize): the pods roll one at a time under load, observedGeneration follows, no loss', async (t) => {
    assert.ok(applied, 'needs the apply scenario, which failed');
    return scenario(t, async () => {
      const oldPods = names(await workerPods());
      const deployment = await apps.readNamespacedDeployment({ name: `${name}-worker`, namespace: ns });
      const oldHash = templateAnnotation(deployment);
      const runId = `roll${id}`;
      const count = 30_000;
      const publishing = load(runId, count, 2500);
      const t0 = performance.now();
      await apply(ns, pipeline({ batchSize: 1000 }));
      const generation = (await getPipeline()).metadata.generation;
      assert.equal(generation, 2);
      // Never more than replicas + 1 (maxSurge) worker pods, never fewer than `replicas` ready (maxUnavailable 0).
      let maxPods = 0;
      let minReady = replicas;
      const rolled = await eventually(
        async () => {
          const pods = await workerPods();
          maxPods = Math.max(maxPods, pods.length);
          minReady = Math.min(minReady, pods.filter(podReady).length);
          const d = await apps.readNamespacedDeployment({ name: `${name}-worker`, namespace: ns });
          assert.notEqual(templateAnnotation(d), oldHash, 'config hash changed');
          assert.equal(pods.length, replicas);
          for (const p of pods) assert.ok(!oldPods.includes(p.metadata?.name ?? ''), `${p.metadata?.name} is new`);
          assert.ok(pods.every(podReady), 'new pods ready');
          return pods;
        },
        { timeoutMs: 120_000, intervalMs: 100, what: 'every worker pod replaced' },
      );
      const rolledAfter = seconds(t0);
      await awaitPipelineReady(generation);
      const cm = await core.readNamespacedConfigMap({ name: `${name}-worker-config`, namespace: ns });
      assert.match(cm.data?.['pipeline.yaml'] ?? '', /batchSize: 1000/);
      assert.ok(maxPods <= replicas + 1, `at most ${replicas + 1} pods at once (saw ${maxPods})`);
      assert.ok(minReady >= replicas - 0, `at least ${replicas} ready at any time (saw ${minReady})`);
      const hashes = new Set(rolled.map((p) => p.metadata?.labels?.['pod-template-hash']));
      assert.equal(hashes.size, 1);
      const summary = await publishing;
      assert.equal(summary.acked, count);
      const a = await awaitAllStored(runId, count);
      // SIGTERM drained the old pods: their logs say so.
      assert.match(runner.logs(400), /drained: every acknowledged message is committed/);
      t.diagnostic(
        `${oldPods.join(', ')} → ${names(rolled).join(', ')} in ${rolledAfter}; at most ${maxPods} pods, at least ${minReady} ready; all ${count} stored under load, ${a.duplicates} duplicates`,
      );
    });
  });

  test('delete: the garbage collector removes every child, the worker processes stop', async (t) => {
    assert.ok(applied, 'needs the apply scenario, which failed');
    return scenario(t, async () => {
      const t0 = performance.now();
      const r = await kubectl(['delete', 'ingestpipeline', name, '-n', ns, '--wait=true']);
      assert.equal(r.code, 0, r.stderr);
      const children = [
        ['deployment', `${name}-worker`],
        ['configmap', `${name}-worker-config`],
        ['serviceaccount', `${name}-worker`],
        ['role', `${name}-worker`],
        ['rolebinding', `${name}-worker`],
        ['poddisruptionbudget', `${name}-worker`],
      ];
      await eventually(
        async () => {
          for (const [kind, n] of children) {
            const g = await kubectl(['get', kind as string, n as string, '-n', ns, '--ignore-not-found', '-o', 'name']);
            assert.equal(g.stdout.trim(), '', `${kind}/${n} still exists`);
          }
          assert.deepEqual(names(await workerPods()), [], 'worker pods');
          const all = await core.listNamespacedPod({ namespace: ns });
          assert.equal(all.items.length, 0, 'no pod left, not even terminating');
          assert.deepEqual(runner.pods(), [], 'no pod process left');
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'children and pods gone' },
      );
      t.diagnostic(`children, pods and processes gone ${seconds(t0)} after kubectl delete`);
    });
  });

  test('persistent WAL: StatefulSet pods keep their names and PVCs; kill -9 plus force-delete of a pod loses nothing', async (t) =>
    scenario(t, async () => {
      const sts = `${name}-p`;
      const t0 = performance.now();
      await apply(ns, pipeline({}, { name: sts, wal: { storage: { type: 'Persistent', size: '1Gi' } } }));
      await awaitPipelineReady(1, sts);
      const readyAfter = seconds(t0);
      const set = await apps.readNamespacedStatefulSet({ name: `${sts}-worker`, namespace: ns });
      assert.equal(set.status?.readyReplicas, replicas);
      assert.deepEqual(names(await workerPods(sts)), [`${sts}-worker-0`, `${sts}-worker-1`]);
      const victim = `${sts}-worker-1`;
      const before = await core.readNamespacedPod({ name: victim, namespace: ns });
      const runId = `sts${id}`;
      const count = 30_000;
      const publishing = load(runId, count, 5000);
      await eventually(
        async () => {
          const n = await workersMetric('mqtt2pg_received_total{qos="1"}');
          if (n < count * 0.3) throw new Error(`received ${n}`);
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'the workers receiving 30% of the run' },
      );
      // A node crash, as far as the pod can tell: the process dies at once and the Pod object is force-deleted.
      const killedAt = performance.now();
      assert.ok(runner.signal(victim, 'SIGKILL'));
      const del = await kubectl(['delete', 'pod', victim, '-n', ns, '--grace-period=0', '--force']);
      assert.equal(del.code, 0, del.stderr);
      const again = await eventually(
        async () => {
          const p = await core.readNamespacedPod({ name: victim, namespace: ns });
          assert.notEqual(p.metadata?.uid, before.metadata?.uid, 'a new pod');
          assert.ok(podReady(p), 'ready');
          return p;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: `${victim} recreated under its name and ready` },
      );
      const backAfter = seconds(killedAt);
      assert.equal(
        again.spec?.volumes?.find((v) => v.name === 'wal')?.persistentVolumeClaim?.claimName,
        `wal-${victim}`,
      );
      const summary = await publishing;
      assert.equal(summary.acked, count);
      const a = await awaitAllStored(runId, count);
      await awaitPipelineReady(1, sts);
      const r = await kubectl(['delete', 'ingestpipeline', sts, '-n', ns, '--wait=true']);
      assert.equal(r.code, 0, r.stderr);
      await eventually(
        async () => {
          assert.deepEqual(names(await workerPods(sts)), []);
          assert.deepEqual(runner.pods(), []);
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'StatefulSet pods gone after the pipeline' },
      );
      t.diagnostic(
        `StatefulSet Ready after ${readyAfter}; ${victim} back under its name after ${backAfter}; all ${count} stored, ${a.duplicates} duplicates`,
      );
    }));

  test("PgBouncer pods: the operator's PgBouncer runs as a pod and the worker reaches it by its Service name", async (t) =>
    scenario(t, async () => {
      const pb = `${name}-b`;
      const t0 = performance.now();
      await apply(ns, pipeline({}, { name: pb, replicas: 1, pgbouncer: true }));
      const ready = await awaitPipelineReady(1, pb, 1);
      const readyAfter = seconds(t0);
      assert.equal(ready.status?.poolSize, 4);
      const cm = await core.readNamespacedConfigMap({ name: `${pb}-worker-config`, namespace: ns });
      assert.match(cm.data?.['pipeline.yaml'] ?? '', new RegExp(`host: ${pb}-pgbouncer\\.${ns}\\.svc`));
      const [bouncer] = (
        await core.listNamespacedPod({
          namespace: ns,
          labelSelector: `mqtt2pg.io/pipeline=${pb},app.kubernetes.io/component=pgbouncer`,
        })
      ).items;
      assert.ok(bouncer && podReady(bouncer), 'the PgBouncer pod is ready');
      const runId = `bouncer${id}`;
      const count = 10_000;
      const summary = await load(runId, count, 5000);
      assert.equal(summary.acked, count);
      const a = await awaitAllStored(runId, count);
      // The rows went through that pod: its admin console counts the transactions.
      const pgUrl = new URL(requireEnv('DATABASE_URL'));
      const admin = new pg.Client({
        host: bouncer.status?.podIP,
        port: 6432,
        user: decodeURIComponent(pgUrl.username),
        password: decodeURIComponent(pgUrl.password),
        database: 'pgbouncer',
      });
      await admin.connect();
      const stats = await admin.query<{ database: string; total_xact_count: string }>('SHOW STATS');
      await admin.end();
      const xacts = Number(stats.rows.find((r) => r.database === pgUrl.pathname.slice(1))?.total_xact_count ?? 0);
      assert.ok(xacts > 0, `transactions through the PgBouncer pod: ${xacts}`);
      const r = await kubectl(['delete', 'ingestpipeline', pb, '-n', ns, '--wait=true']);
      assert.equal(r.code, 0, r.stderr);
      await eventually(
        async () => {
          for (const [kind, child] of [
            ['deployment', `${pb}-pgbouncer`],
            ['service', `${pb}-pgbouncer`],
            ['configmap', `${pb}-pgbouncer-config`],
            ['secret', `${pb}-pgbouncer-auth`],
          ] as const) {
            const g = await kubectl(['get', kind, child, '-n', ns, '--ignore-not-found', '-o', 'name']);
            assert.equal(g.stdout.trim(), '', `${kind} ${child} still exists`);
          }
          assert.deepEqual(runner.pods(), []);
        },
        { timeoutMs: 60_000, intervalMs: 200, what: 'PgBouncer children and pods gone' },
      );
      t.diagnostic(
        `Ready (PgBouncer + worker) after ${readyAfter}; ${count} stored through the PgBouncer pod (${xacts} transactions), ${a.duplicates} duplicates`,
      );
    }));
});

function templateAnnotation(d: V1Deployment) {
  return d.spec?.template.metadata?.annotations?.['mqtt2pg.io/config-hash'];
}
