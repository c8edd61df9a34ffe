// The operator at scale (issue 17, goal 4): N IngestPipelines exist before the operator starts. Measured:
// how long until every one has its children applied and its status written, the operator's memory per phase
// (caches synced, all reconciled, after a rest), its CPU and API requests for the burst, and at rest (with a
// resync short enough to run several times in the rest window: a resync must compare and skip, not re-apply).

import { setTimeout as sleep } from 'node:timers/promises';
import { pipelinesPath } from '../api/contract.ts';
import { OPERATOR_MALLOC_ARENA_MAX, OPERATOR_NODE_OPTIONS } from '../operator/manifests.ts';
import type { KubeList } from '../operator/runtime/kube.ts';
import { command, ensureCrd } from '../test/lib/env.ts';
import { eventually } from '../test/lib/eventually.ts';
import {
  apply,
  createNamespace,
  deleteNamespace,
  kubeClient,
  metricsText,
  type OperatorProcess,
  type PipelineObject,
  secretYaml,
  startOperator,
} from '../test/lib/kube.ts';
import { seriesValues } from '../test/lib/metrics-text.ts';
import { apiPipeline } from '../test/lib/pipelines.ts';
import { findProcess, mib, procStats } from './proc-stats.ts';

export interface OperatorScaleOptions {
  pipelines: number;
  concurrency?: number;
  /** How long the operator rests after the burst while requests and CPU are counted. */
  restSeconds: number;
  /** --resync during the run: a third of the rest, so the rest sees full resyncs. */
  resyncSeconds?: number;
  /** NODE_OPTIONS of the operator process (default: what the chart's operator Deployment sets). */
  nodeOptions?: string;
  say?: (msg: string) => void;
}

export interface OperatorScaleResult {
  pipelines: number;
  concurrency: number | null;
  cachesSyncedMs: number;
  allReconciledMs: number;
  rssBytes: { cachesSynced: number; allReconciled: number; afterRest: number; peak: number };
  heapUsedBytesAfterRest: number;
  /** V8's view when all were reconciled: heap committed, heap used, memory outside the heap (Buffers). */
  memoryAtDone: { heapTotal: number; heapUsed: number; external: number };
  burst: { cpuSeconds: number; apiRequests: Record<string, number>; apiRequestsPerPipeline: number };
  /** The API server's own CPU during the burst (the local one of make test-env), when it could be found. */
  apiServerCpuSecondsDuringBurst: number | null;
  rest: {
    seconds: number;
    resyncSeconds: number;
    reconciles: number;
    apiRequestsPerMinute: number;
    apiRequests: Record<string, number>;
    cpuSecondsPerMinute: number;
    /** CPU of one resync of every pipeline (all compared, none applied): the cost of idle pipelines. */
    cpuSecondsPerFullResync: number;
  };
}

type Counts = Map<string, number>;
const requestsByVerb = (m: Counts) => {
  const out: Record<string, number> = {};
  for (const [k, v] of m) {
    const verb = /^mqtt2pg_operator_api_requests_total\{verb="([^"]+)"\}$/.exec(k)?.[1];
    if (verb) out[verb] = v;
  }
  return out;
};
const diff = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]));
const total = (r: Record<string, number>) => Object.values(r).reduce((x, y) => x + y, 0);
const reconcilesOf = (m: Counts) =>
  [...m].filter(([k]) => k.startsWith('mqtt2pg_operator_reconciles_total{')).reduce((x, [, v]) => x + v, 0);

export async function operatorScale(o: OperatorScaleOptions): Promise<OperatorScaleResult> {
  const say = o.say ?? (() => {});
  const n = o.pipelines;
  const resyncSeconds = o.resyncSeconds ?? Math.max(5, Math.round(o.restSeconds / 3));
  const client = await kubeClient();
  // A fresh make test-env has no CRD yet; one already there (maybe newer, from a test run) is left alone.
  const crd = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/ingestpipelines.mqtt2pg.io';
  if (
    !(await client.request('GET', crd).then(
      () => true,
      () => false,
    ))
  )
    await ensureCrd();
  const ns = await createNamespace('bench');
  let op: OperatorProcess | undefined;
  try {
    await apply(ns, secretYaml('pg', { username: 'u', password: 'p' }));
    say(`operator: creating ${n} IngestPipelines`);
    const docs = Array.from({ length: n }, (_, i) => apiPipeline(ns, `p${i}`, { replicas: 1 + (i % 3) }));
    for (let i = 0; i < n; i += 100) await apply(ns, ...docs.slice(i, i + 100));

    // The operator runs compiled, as in its image: Node's TypeScript stripping alone costs ~15 MiB of RSS.
    await command('tsc', ['-p', 'tsconfig.build.json']);
    const apiServer = findProcess('kube-apiserver');
    const apiCpu0 = apiServer ? procStats(apiServer).cpuSeconds : 0;
    const t0 = Date.now();
    op = startOperator(
      [
        '--watch-namespace',
        ns,
        '--no-leader-elect',
        '--resync',
        `${resyncSeconds}s`,
        ...(o.concurrency ? ['--concurrency', String(o.concurrency)] : []),
      ],
      { NODE_OPTIONS: o.nodeOptions ?? OPERATOR_NODE_OPTIONS, MALLOC_ARENA_MAX: OPERATOR_MALLOC_ARENA_MAX },
      'dist/cli/main.js',
    );
    const pid = op.child.pid ?? 0;
    await op.waitForLog(/caches synced/, 120_000);
    const cachesSyncedMs = Date.now() - t0;
    const rssSynced = procStats(pid).rssBytes;
    say(`operator: caches synced in ${cachesSyncedMs} ms; waiting for ${n} statuses`);
    // Every status write is logged: counting the lines costs the API server nothing (a list of N pipelines
    // every second would weigh on what is measured).
    const logs = op.logs;
    const written = new Set<string>();
    let scanned = 0;
    await eventually(
      async () => {
        for (; scanned < logs.length; scanned++) {
          const l = logs[scanned] as string;
          if (l.includes('"status updated"')) written.add((JSON.parse(l) as { name: string }).name);
        }
        if (written.size < n) throw new Error(`${written.size}/${n} statuses written`);
      },
      { timeoutMs: 900_000, intervalMs: 200, what: `${n} pipelines reconciled` },
    );
    const allReconciledMs = Date.now() - t0;
    const burstStats = procStats(pid);
    const apiCpu1 = apiServer ? procStats(apiServer).cpuSeconds : 0;
    const m1 = seriesValues(await metricsText(op));
    // The statuses the API server holds agree with the log.
    const list = await client.request<KubeList<PipelineObject>>('GET', pipelinesPath(ns));
    const current = list.items.filter((p) => p.status?.observedGeneration === p.metadata.generation).length;
    if (current < n) throw new Error(`the log shows ${n} statuses written, the API server ${current}`);

    say(
      `operator: all reconciled in ${allReconciledMs} ms; resting ${o.restSeconds} s (resync every ${resyncSeconds} s)`,
    );
    const restStart = procStats(pid).cpuSeconds;
    await sleep(o.restSeconds * 1000);
    const m2 = seriesValues(await metricsText(op));
    const after = procStats(pid);
    const restRequests = diff(requestsByVerb(m1), requestsByVerb(m2));
    const burstRequests = requestsByVerb(m1);
    return {
      pipelines: n,
      concurrency: o.concurrency ?? null,
      cachesSyncedMs,
      allReconciledMs,
      rssBytes: {
        cachesSynced: rssSynced,
        allReconciled: burstStats.rssBytes,
        afterRest: after.rssBytes,
        peak: after.peakRssBytes,
      },
      heapUsedBytesAfterRest: m2.get('mqtt2pg_operator_nodejs_heap_size_used_bytes') ?? 0,
      memoryAtDone: {
        heapTotal: m1.get('mqtt2pg_operator_nodejs_heap_size_total_bytes') ?? 0,
        heapUsed: m1.get('mqtt2pg_operator_nodejs_heap_size_used_bytes') ?? 0,
        external: m1.get('mqtt2pg_operator_nodejs_external_memory_bytes') ?? 0,
      },
      burst: {
        cpuSeconds: burstStats.cpuSeconds,
        apiRequests: burstRequests,
        apiRequestsPerPipeline: Math.round((total(burstRequests) / n) * 10) / 10,
      },
      apiServerCpuSecondsDuringBurst: apiServer ? Math.round((apiCpu1 - apiCpu0) * 10) / 10 : null,
      rest: {
        seconds: o.restSeconds,
        resyncSeconds,
        reconciles: reconcilesOf(m2) - reconcilesOf(m1),
        apiRequestsPerMinute: Math.round((total(restRequests) / o.restSeconds) * 60 * 10) / 10,
        apiRequests: restRequests,
        cpuSecondsPerMinute: Math.round(((after.cpuSeconds - restStart) / o.restSeconds) * 60 * 100) / 100,
        cpuSecondsPerFullResync:
          Math.round(((after.cpuSeconds - restStart) / Math.max(1, (reconcilesOf(m2) - reconcilesOf(m1)) / n)) * 100) /
          100,
      },
    };
  } finally {
    await op?.stop();
    client.close();
    await deleteNamespace(ns);
  }
}

/** The limits for these figures: a value, its limit, and value ÷ limit (≤ 1 meets it). */
export function operatorGoals(r: OperatorScaleResult) {
  const goal = (value: number, limit: number, unit: string) => ({
    value,
    limit,
    unit,
    ratio: Math.round((value / limit) * 100) / 100,
  });
  return {
    coldStartSeconds: goal(Math.round(r.allReconciledMs / 100) / 10, 60, 's'),
    rssMiB: goal(Math.round(Math.max(r.rssBytes.allReconciled, r.rssBytes.afterRest) / 2 ** 20), 200, 'MiB'),
    peakRssMiB: goal(Math.round(r.rssBytes.peak / 2 ** 20), 200, 'MiB'),
    // At rest, nothing should need writing: the watches' reconnects are the only requests worth having.
    restWritesPerMinute: goal(
      Math.round(
        (total(Object.fromEntries(Object.entries(r.rest.apiRequests).filter(([v]) => !['GET', 'WATCH'].includes(v)))) /
          r.rest.seconds) *
          60,
      ),
      1,
      'writes/min',
    ),
  };
}

export function printOperatorTable(res: OperatorScaleResult, g: ReturnType<typeof operatorGoals>): void {
  const row = (k: string, v: string) => console.log(`  ${k.padEnd(40)}  ${v}`);
  const vs = (x: { value: number; limit: number; unit: string; ratio: number }) =>
    `${x.value} ${x.unit} (limit ${x.limit}, ratio ${x.ratio})`;
  console.log(`\noperator, ${res.pipelines} IngestPipelines from a cold start\n`);
  row('caches synced', `${res.cachesSyncedMs} ms`);
  row('all children applied + status written', vs(g.coldStartSeconds));
  row('RSS at done / after rest', `${vs(g.rssMiB)}; synced ${mib(res.rssBytes.cachesSynced)} MiB`);
  row('peak RSS', vs(g.peakRssMiB));
  const d = res.memoryAtDone;
  row(
    'V8 at done: heap committed/used, external',
    `${mib(d.heapTotal)} / ${mib(d.heapUsed)} MiB, ${mib(d.external)} MiB`,
  );
  row('heap used after rest', `${mib(res.heapUsedBytesAfterRest)} MiB`);
  row(
    'burst: operator CPU, API requests',
    `${res.burst.cpuSeconds} s, ${res.burst.apiRequestsPerPipeline}/pipeline ${JSON.stringify(res.burst.apiRequests)}`,
  );
  row('burst: API server CPU', `${res.apiServerCpuSecondsDuringBurst ?? 'n/a'} s`);
  row(
    `at rest (${res.rest.seconds} s, resync ${res.rest.resyncSeconds} s)`,
    `${res.rest.reconciles} reconciles, ${res.rest.apiRequestsPerMinute} requests/min ${JSON.stringify(res.rest.apiRequests)}, CPU ${res.rest.cpuSecondsPerMinute} s/min`,
  );
  row(
    'CPU per resync of all pipelines',
    `${res.rest.cpuSecondsPerFullResync} s (at the default --resync 10m: ${Math.round((res.rest.cpuSecondsPerFullResync / 600) * 1000) / 10}% of a core)`,
  );
  row('writes per minute at rest', vs(g.restWritesPerMinute));
}
