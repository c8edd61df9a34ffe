// One Kubernetes operation during a PostgreSQL outage, on the local cluster with the real operator
// (local-cluster-setup.ts): what the local-cluster-outage-{pod-delete,evict,rollout}.test.ts files share.
//
// A Persistent WAL pipeline (the default: a StatefulSet, a PVC per pod) with two workers takes QoS 1 load;
// PostgreSQL is stopped while it runs, until every worker is unready with a WAL backlog; the operation runs;
// more load is published (the broker acknowledges it, and holds a stopped worker's share for its session);
// then PostgreSQL comes back. Every id the broker acknowledged to the publisher must end in the table. Each
// scenario prints one `OUTCOME operation=<name> acknowledged=N stored=N lost=N duplicates=N` line.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, type TestContext } from 'node:test';
import { KubeConfig, PolicyV1Api, type V1PodDisruptionBudgetStatus } from '@kubernetes/client-node';
import { command, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { type Accounting, account, allStored, ledger } from '../../lib/ledger.ts';
import { seriesValues } from '../../lib/metrics-text.ts';
import { envPipeline, type SpecOverrides } from '../../lib/pipelines.ts';
import { type LocalClusterE2E, podReady } from './local-cluster-setup.ts';

export const REPLICAS = 2;
/** The schema's minimum: a stopping worker gets 5 s to drain (the grace period minus 5 s), then exits. */
export const GRACE_SECONDS = 10;
/** Published before and through the outage, then after the operation (rate: messages per second). */
const LOAD = { during: 3000, after: 1000, rate: 500 };

/** The scenario's pipeline: the default WAL (Persistent), short flush retries so recovery is quick. */
export function outagePipeline(c: LocalClusterE2E, flusher: SpecOverrides['flusher'] = {}) {
  return envPipeline({
    ...c.targetNames,
    namespace: c.ns,
    spec: {
      replicas: REPLICAS,
      terminationGracePeriodSeconds: GRACE_SECONDS,
      flusher: { retry: { initialBackoff: '100ms', maxBackoff: '1s' }, ...flusher },
    },
  }).doc;
}

async function postgres(action: 'stop' | 'start') {
  const r = await command('test/env/service.sh', [action, 'postgres']);
  assert.equal(r.code, 0, `${action} postgres: ${r.stderr}`);
}

/** Registers the cluster's hooks, and PostgreSQL started again after the file whatever happened. */
export function outageHooks(c: LocalClusterE2E) {
  c.hooks();
  after(() => postgres('start'));
}

/** A worker pod's metrics, scraped at its pod IP. */
async function podMetrics(ip: string | undefined) {
  const r = await fetch(`http://${ip}:9090/metrics`, { signal: AbortSignal.timeout(2000) });
  return seriesValues(await r.text());
}

/** One series of a running pod's metrics (0 when not exported yet). */
export async function podMetric(c: LocalClusterE2E, pod: string, series: string): Promise<number> {
  const ip = c.runner.pods().find((p) => p.name === pod)?.ip;
  assert.ok(ip, `${pod} runs`);
  return (await podMetrics(ip)).get(series) ?? 0;
}

/** The logs of every incarnation of a pod (oldest first), as the pod runner kept them. */
export function podLogs(c: LocalClusterE2E, pod: string): string[] {
  const pods = join(c.dir, 'node', 'pods');
  const dirs = existsSync(pods) ? readdirSync(pods).filter((d) => d.startsWith(`${c.ns}_${pod}_`)) : [];
  return dirs
    .map((d) => join(pods, d, 'logs'))
    .filter(existsSync)
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
    .map((l) =>
      readdirSync(l)
        .sort()
        .map((f) => readFileSync(join(l, f), 'utf8'))
        .join(''),
    );
}

/** What a stopped worker left in its WAL at the drain deadline; 0 if it drained everything. */
export function leftInWal(log: string | undefined): number {
  return Number(/"messages":(\d+)[^\n]*drain deadline reached/.exec(log ?? '')?.[1] ?? 0);
}

/** A policy/v1 Eviction of a pod, as `kubectl drain` asks for one; the API server's answer. */
export async function evict(c: LocalClusterE2E, pod: string): Promise<{ code: number; message: string }> {
  try {
    await c.core.createNamespacedPodEviction({
      name: pod,
      namespace: c.ns,
      body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: c.ns } },
    });
    return { code: 201, message: 'evicted' };
  } catch (err) {
    const e = err as { code?: number; body?: string };
    return { code: e.code ?? 0, message: String(e.body ?? err) };
  }
}

let policy: PolicyV1Api | undefined;

/** The status of the workers' PodDisruptionBudget, as the Eviction API reads it. */
export async function budget(c: LocalClusterE2E): Promise<V1PodDisruptionBudgetStatus | undefined> {
  if (!policy) {
    const kc = new KubeConfig();
    kc.loadFromFile(requireEnv('KUBECONFIG'));
    policy = kc.makeApiClient(PolicyV1Api);
  }
  const pdb = await policy.readNamespacedPodDisruptionBudget({ name: `${c.target.name}-worker`, namespace: c.ns });
  return pdb.status;
}

export interface Outcome {
  acknowledged: number;
  stored: number;
  lost: number;
  duplicates: number;
  /** WAL messages per worker pod when the operation started. */
  backlog: Record<string, number>;
}

/**
 * Load, PostgreSQL stopped until every worker is unready with a WAL backlog, `during` (the operation), load
 * after it, PostgreSQL back, `recover` (e.g. wait for a rollout to finish), every acknowledged id checked.
 */
export async function outageScenario(
  c: LocalClusterE2E,
  t: TestContext,
  o: { operation: string; during: () => Promise<void>; recover?: () => Promise<void> },
): Promise<Outcome> {
  const run = (phase: string) => `${o.operation.replace(/[^a-z]/g, '')}${phase}${c.targetNames.id}`;
  const runs = [
    { id: run('a'), count: LOAD.during },
    { id: run('b'), count: LOAD.after },
  ];
  const [during, afterOp] = runs as [(typeof runs)[0], (typeof runs)[0]];
  const backlog: Record<string, number> = {};
  let down = false;
  try {
    const received = () => c.workersMetric('mqtt2pg_received_total{qos="1"}');
    const base = await received();
    const publishing = c.load(during.id, during.count, LOAD.rate);
    publishing.catch(() => {}); // awaited below; a failure before that must not end the process
    await eventually(async () => assert.ok((await received()) >= base + during.count / 10), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: 'load flowing into the workers',
    });
    await postgres('stop');
    down = true;
    await eventually(
      async () => {
        const pods = await c.workerPods();
        assert.equal(pods.length, REPLICAS, 'worker pods');
        for (const p of pods) {
          const name = p.metadata?.name ?? '';
          assert.ok(!podReady(p), `${name} reports PostgreSQL down (not ready)`);
          backlog[name] = (await podMetrics(p.status?.podIP)).get('mqtt2pg_wal_messages') ?? 0;
          assert.ok((backlog[name] ?? 0) > 0, `${name} has a WAL backlog`);
        }
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'every worker unready with a WAL backlog' },
    );
    await o.during();
    const late = await c.load(afterOp.id, afterOp.count, LOAD.rate);
    assert.equal(late.acked, afterOp.count, 'the broker acknowledged every publish after the operation');
    assert.equal((await publishing).acked, during.count, 'the broker acknowledged every publish');
    await postgres('start');
    down = false;
    await o.recover?.();
  } finally {
    if (down) await postgres('start');
  }

  const outcome: Outcome = { acknowledged: 0, stored: 0, lost: 0, duplicates: 0, backlog };
  for (const r of runs) {
    let a: Accounting;
    try {
      a = await allStored(c.target, r.id, r.count);
    } catch {
      a = account(await ledger(c.target, r.id), r.id, r.count);
    }
    outcome.acknowledged += r.count;
    outcome.stored += r.count - a.missing.length;
    outcome.lost += a.missing.length;
    outcome.duplicates += a.duplicates;
    assert.deepEqual(a.inSeveral, [], 'no message in two destinations');
  }
  t.diagnostic(
    `OUTCOME operation=${o.operation} acknowledged=${outcome.acknowledged} stored=${outcome.stored} lost=${outcome.lost} duplicates=${outcome.duplicates}`,
  );
  assert.equal(outcome.lost, 0, 'every acknowledged message stored');
  return outcome;
}
