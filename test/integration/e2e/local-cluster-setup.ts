// What the local-cluster e2e files (local-cluster-*.test.ts) share: the test environment's kube-apiserver,
// the operator as a process, and test/local-cluster/pod-runner.ts playing kubelet, the Deployment and
// StatefulSet controllers and the garbage collector, so worker pods are real `mqtt2pg worker` processes
// against the real Mosquitto, PgBouncer, PostgreSQL and MinIO.
//
// Pipelines have sink.pgbouncer.enabled false and point sink.postgres at the test environment's PgBouncer
// (transaction pooling), unless a scenario asks for the operator's own PgBouncer as a pod, which the worker
// reaches by its Service name through the runner's stand-in for cluster DNS (cluster-dns.ts).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, type TestContext } from 'node:test';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { kubectl, REPO_ROOT, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import {
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

/** Worker replicas of a pipeline unless a scenario says otherwise. */
export const replicas = 2;

export const podReady = (p: V1Pod) =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
export const names = (pods: V1Pod[]) => pods.map((p) => p.metadata?.name ?? '').sort();
export const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;
export const templateAnnotation = (d: V1Deployment) =>
  d.spec?.template.metadata?.annotations?.['mqtt2pg.io/config-hash'];

/**
 * One namespace with the environment's Secrets, a pod runner and an operator watching it. `hooks()` inside a
 * describe starts them before its tests and stops them after; everything else is read once they run.
 */
export class LocalClusterE2E {
  /** The main pipeline's names; a file's other pipelines share its topic level and tables. */
  readonly targetNames = { tag: 'e2e', id: randomBytes(3).toString('hex'), dlq: 'e2e-local/' };
  readonly target = envPipeline(this.targetNames);
  readonly dir = mkdtempSync(join(tmpdir(), `mqtt2pg-local-cluster-${this.targetNames.id}-`));
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  ns = '';
  runner!: PodRunner;
  op!: OperatorProcess;
  private readonly runnerLog: string[] = [];
  /** Extra operator flags of a scenario (e.g. a short --drain-timeout). */
  private readonly operatorArgs: string[];

  constructor(operatorArgs: string[] = []) {
    this.operatorArgs = operatorArgs;
    const kc = new KubeConfig();
    kc.loadFromFile(requireEnv('KUBECONFIG'));
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
  }

  hooks(): void {
    before(async () => {
      await ensureCrd();
      this.ns = await createNamespace('e2e-local');
      await applySecrets(this.ns, envSecrets());
      this.runner = new PodRunner({
        kubeconfig: requireEnv('KUBECONFIG'),
        namespace: this.ns,
        dir: join(this.dir, 'node'),
        repoRoot: REPO_ROOT,
        log: (l) => this.runnerLog.push(l),
      });
      await this.runner.start();
      this.op = startOperator([
        '--watch-namespace',
        this.ns,
        '--lease-namespace',
        this.ns,
        '--worker-image',
        'mqtt2pg:local',
        '--resync',
        '1m',
        ...this.operatorArgs,
      ]);
      await this.op.waitForLog(/caches synced/);
    });

    after(async () => {
      await this.runner?.stop();
      const code = await this.op?.stop();
      if (this.ns) await deleteNamespace(this.ns);
      assert.equal(code, 0, `operator exit code; last logs:\n${this.op?.logs.slice(-10).join('\n')}`);
      rmSync(this.dir, { recursive: true, force: true });
    });
  }

  pipeline(
    flusher: SpecOverrides['flusher'] = {},
    o: {
      name?: string;
      wal?: SpecOverrides['wal'];
      replicas?: number;
      pgbouncer?: boolean;
      poolSize?: number;
      /** terminationGracePeriodSeconds (default 30): how long a stopped worker drains before it exits. */
      grace?: number;
    } = {},
  ) {
    // With the operator's PgBouncer, the pipeline names PostgreSQL itself; without, the environment's PgBouncer.
    return envPipeline({
      ...this.targetNames,
      name: o.name,
      namespace: this.ns,
      direct: o.pgbouncer,
      spec: {
        replicas: o.replicas ?? replicas,
        wal: o.wal,
        sink: o.pgbouncer ? { pgbouncer: { enabled: true, replicas: 1, poolSize: o.poolSize ?? 4 } } : {},
        flusher,
        terminationGracePeriodSeconds: o.grace ?? 30,
      },
    }).doc;
  }

  async getPipeline(pipelineName = this.target.name): Promise<PipelineObject> {
    const r = await kubectl(['get', 'ingestpipeline', pipelineName, '-n', this.ns, '-o', 'json']);
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as PipelineObject;
  }

  async workerPods(pipelineName = this.target.name): Promise<V1Pod[]> {
    const pods = await this.core.listNamespacedPod({
      namespace: this.ns,
      labelSelector: `mqtt2pg.io/pipeline=${pipelineName}`,
    });
    return pods.items.filter((p) => !p.metadata?.deletionTimestamp);
  }

  async awaitPipelineReady(generation?: number, pipelineName = this.target.name, want = replicas, timeoutMs = 90_000) {
    return eventually(
      async () => {
        const p = await this.getPipeline(pipelineName);
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
  async workersMetric(series: string): Promise<number> {
    let sum = 0;
    for (const p of this.runner.pods()) {
      const text = await (await fetch(`http://${p.ip}:9090/metrics`, { signal: AbortSignal.timeout(2000) })).text();
      sum += seriesValues(text).get(series) ?? 0;
    }
    return sum;
  }

  load(runId: string, count: number, rate: number) {
    return publish(this.target.path, runId, { count, rate });
  }

  async awaitAllStored(runId: string, count: number) {
    const a = await allStored(this.target, runId, count);
    assert.deepEqual(a.inSeveral, [], 'no message in two destinations');
    return a;
  }

  /** Runs a scenario, records its duration, and on failure prints every pod's and the operator's logs. */
  async scenario(t: TestContext, body: () => Promise<void>): Promise<void> {
    const started = performance.now();
    try {
      await body();
    } catch (err) {
      const ns = this.ns;
      const state = await kubectl([
        'get',
        'ingestpipelines,deployments,statefulsets,jobs,pods,persistentvolumeclaims,configmaps',
        '-n',
        ns,
        '-o',
        'wide',
      ]);
      const events = await kubectl(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp']);
      const report = [
        `==== ${t.name} failed: state of namespace ${ns}`,
        state.stdout + state.stderr,
        events.stdout,
        '==== pod runner',
        ...this.runnerLog.slice(-60),
        '==== pod processes (per container start)',
        this.runner.logs(30),
        '==== operator (last 40 lines)',
        ...this.op.logs.slice(-40),
      ].join('\n');
      writeFileSync(join(this.dir, 'failure.txt'), report);
      console.error(report);
      throw err;
    } finally {
      t.diagnostic(`${t.name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  }
}
