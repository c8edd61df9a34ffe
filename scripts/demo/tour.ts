// `make demo`'s tour (scripts/demo.sh starts the services first): the operator and a Docker-free kubelet
// (test/local-cluster/pod-runner.ts) against the test environment's kube-apiserver, then what a user does with
// a pipeline: kubectl apply, watch it go Ready, send device load, read rows, unparseable reasons and the status
// columns, kubectl describe, delete. Worker pods are real `mqtt2pg worker` processes against local Mosquitto,
// PgBouncer, PostgreSQL and MinIO.
//   DEMO_RATE (messages/s, default 2000)  DEMO_DURATION (default 15s)  DEMO_MALFORMED (ratio, default 0.01)
//   DEMO_NAMESPACE (default mqtt2pg-demo)  DEMO_REPLICAS (worker pods, default 2)

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { ensureCrd, REPO_ROOT, requireEnv } from '../../test/lib/env.ts';
import { applySecrets, type OperatorProcess, startOperator } from '../../test/lib/kube.ts';
import { envPipeline, envSecrets } from '../../test/lib/pipelines.ts';
import { PodRunner } from '../../test/local-cluster/pod-runner.ts';
import { kubectl, note, psql, psqlValue, section, watchWhile } from './show.ts';

const rate = Number(process.env.DEMO_RATE ?? 2000);
const duration = process.env.DEMO_DURATION ?? '15s';
const malformed = process.env.DEMO_MALFORMED ?? '0.01';
const ns = process.env.DEMO_NAMESPACE ?? 'mqtt2pg-demo';
const replicas = Number(process.env.DEMO_REPLICAS ?? 2);
const started = performance.now();
const since = () => `${((performance.now() - started) / 1000).toFixed(0)}s`;

interface LoadSummary {
  sent: number;
  acked: number;
  malformed: number;
  errors: number;
}

/** Runs `mqtt2pg loadgen`, its progress lines indented as they come; the JSON summary at the end. */
function loadgen(path: string, runId: string, onTick: () => void): Promise<LoadSummary> {
  const args = ['cli/main.ts', 'loadgen', '--rate', String(rate), '--duration', duration, '--malformed-ratio'];
  args.push(malformed, '--run-id', runId, '--path', path, '--devices', '200', '--tenants', '5');
  console.log(
    `\n $ mqtt2pg loadgen --rate ${rate} --duration ${duration} --malformed-ratio ${malformed} --path ${path}`,
  );
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    for (const l of c.toString('utf8').split('\n').filter(Boolean)) console.log(`   ${l}`);
    onTick();
  });
  return new Promise((resolve, reject) => {
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`mqtt2pg loadgen exited ${code}: ${out}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as LoadSummary);
    });
  });
}

interface Pipeline {
  status?: {
    conditions?: Array<{ type: string; status: string }>;
    readyReplicas?: number;
    flushers?: number;
    ingestRate?: number;
    backlog?: number;
    oldestUnflushedSeconds?: number;
  };
}

/** One line of the status columns as `kubectl get ingp -o wide` names them (the header when p is undefined). */
function columns(at: string, p: Pipeline | undefined): string {
  const s = p?.status;
  const cells = p
    ? [
        at,
        s?.conditions?.find((c) => c.type === 'Ready')?.status,
        s?.readyReplicas,
        s?.flushers,
        s?.ingestRate,
        s?.backlog,
        s?.oldestUnflushedSeconds,
      ]
    : [at, 'READY', 'REPLICAS', 'FLUSHERS', 'RATE', 'BACKLOG', 'OLDEST'];
  return cells
    .map((c, i) => String(c ?? '').padEnd(i === 0 ? 7 : 10))
    .join('')
    .trimEnd();
}

async function rowCount(table: string): Promise<number> {
  const r = await psqlValue(`SELECT count(*) FROM ${table}`);
  return Number(r);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-demo-'));
  const runnerLog: string[] = [];
  let runner: PodRunner | undefined;
  let op: OperatorProcess | undefined;
  try {
    section(
      'The cluster: kube-apiserver, the operator, and a kubelet without Docker',
      'The test environment runs kube-apiserver + etcd; the operator runs as a process, and a stand-in kubelet runs\n' +
        'each worker pod as a local `mqtt2pg worker` process. Everything below is plain kubectl against that API server.',
    );
    await ensureCrd();
    await kubectl(['get', 'crd', 'ingestpipelines.mqtt2pg.io']);
    const created = await kubectl(['create', 'namespace', ns], { quiet: true }).catch((e: Error) => e);
    if (created instanceof Error && !/AlreadyExists/.test(created.message)) throw created;
    await applySecrets(ns, envSecrets());
    note(`namespace ${ns} with the Secrets pg, mqtt and s3 (the pipeline only ever names them)`);
    runner = new PodRunner({
      kubeconfig: requireEnv('KUBECONFIG'),
      namespace: ns,
      dir: join(dir, 'node'),
      repoRoot: REPO_ROOT,
      log: (l) => runnerLog.push(l),
    });
    await runner.start();
    op = startOperator(['--watch-namespace', ns, '--lease-namespace', ns, '--worker-image', 'mqtt2pg:local']);
    await op.waitForLog(/caches synced/, 60_000);
    note(`operator running (watching ${ns}); kubelet running (pods live under ${dir}/node)`);

    const p = envPipeline({
      tag: 'demo',
      namespace: ns,
      spec: {
        replicas,
        // The autoscaler is what fills the Rate/Backlog/Oldest columns from the workers' metrics; pinned
        // sizes keep the demo's picture steady.
        autoscaling: { enabled: true, interval: '2s', minReplicas: replicas, maxReplicas: replicas },
      },
    });
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(file, dump(p.doc, { flowLevel: 3 }));
    section(
      'kubectl apply -f pipeline.yaml',
      'One IngestPipeline: broker, subscription, PostgreSQL tables and the dead-letter bucket. The operator turns it\n' +
        'into worker pods (a StatefulSet: each pod keeps its WAL volume) and their ConfigMap; the same file runs with `mqtt2pg worker -f` outside Kubernetes.',
    );
    console.log(
      dump(p.doc, { flowLevel: 3 })
        .trimEnd()
        .split('\n')
        .map((l) => `   | ${l}`)
        .join('\n'),
    );
    await kubectl(['apply', '-f', file]);

    section(
      'kubectl get ingestpipelines -w: going Ready',
      'Ready turns True once every worker pod has connected to the broker and PostgreSQL and holds its subscription;\n' +
        'until then Reason and Message (kubectl get -o wide) say what is missing.',
    );
    const ready = kubectl(['wait', '--for=condition=Ready', `ingp/${p.name}`, '-n', ns, '--timeout=180s'], {
      quiet: true,
    });
    await watchWhile(['get', 'ingestpipelines', '-n', ns, '-w'], ready);
    await kubectl(['get', 'statefulsets,deployments,pods', '-n', ns, '-l', `mqtt2pg.io/pipeline=${p.name}`]);

    section(
      `Device load: ${rate} QoS 1 messages/s for ${duration}, ${malformed} of them malformed`,
      'Every message is acknowledged only after the worker has fsynced it to its write-ahead log: "acked" is what\n' +
        'the pipeline has promised to store.',
    );
    const runId = `demo${Date.now().toString(36)}`;
    const snapshots: string[] = [];
    let polling = false;
    const poll = async () => {
      if (polling) return;
      polling = true;
      const r = await kubectl(['get', 'ingp', p.name, '-n', ns, '-o', 'json'], { quiet: true }).catch(() => undefined);
      if (r) snapshots.push(columns(since(), JSON.parse(r.stdout) as Pipeline));
      polling = false;
    };
    const summary = await loadgen(p.path, runId, () => void poll());
    const want = summary.acked;
    let stored = 0;
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
      stored = (await rowCount(p.table)) + (await rowCount(p.unparseableTable));
      if (stored >= want) break;
      await poll();
      await new Promise((r) => setTimeout(r, 500));
    }
    if (stored < want)
      throw new Error(`only ${stored} of ${want} acknowledged messages reached PostgreSQL in 2 minutes`);
    await poll();

    section(
      'The status columns under load',
      "Rate (messages/s), Backlog (messages in the workers' WALs, not yet in PostgreSQL) and Oldest (seconds the\n" +
        "oldest of them has waited) come from the workers' metrics; the operator writes them when its autoscaler\n" +
        'decides and at least once a minute. A backlog that grows while the rate stays flat: PostgreSQL is the limit.',
    );
    console.log(`   ${columns('AT', undefined)}`);
    for (const s of [...new Set(snapshots)]) console.log(`   ${s}`);
    await kubectl(['get', 'ingp', p.name, '-n', ns, '-o', 'wide']);

    section(
      'What landed in PostgreSQL',
      `${want} messages acknowledged; every one is a row in ${p.table} or, when it broke the device contract, in\n` +
        `${p.unparseableTable} with the reason (nothing is dropped silently).`,
    );
    await psql(
      `SELECT count(*) AS rows, count(DISTINCT device_id) AS devices,
              round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - received_at)) * 1000)::numeric, 1) AS p50_ms,
              round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - received_at)) * 1000)::numeric, 1) AS p99_ms
         FROM ${p.table}`,
    );
    note('(latency: from the worker reading the PUBLISH to the transaction that committed the row)');
    await psql(
      `SELECT tenant, device_id, path, left(payload::text, 50) AS payload FROM ${p.table} ORDER BY id DESC LIMIT 3`,
    );
    await psql(
      `SELECT reason, count(*) AS rows, left(min(topic), 50) AS example_topic FROM ${p.unparseableTable} GROUP BY reason ORDER BY reason`,
    );

    section(
      'kubectl describe',
      "Conditions with their reasons, the sizes the operator runs, and the Events of the pipeline's life so far.",
    );
    await kubectl(['describe', 'ingestpipeline', p.name, '-n', ns]);

    section(
      'kubectl delete',
      'Deleting the pipeline drains each worker (its WAL reaches PostgreSQL before the pod exits) and the garbage\n' +
        'collector removes what the operator created; the rows stay.',
    );
    await kubectl(['delete', '-f', file, '--wait=true', '--timeout=120s']);
    await kubectl(['wait', '--for=delete', 'pod', '-l', `mqtt2pg.io/pipeline=${p.name}`, '-n', ns, '--timeout=120s'], {
      quiet: true,
    });
    const left = await kubectl(['get', 'ingestpipelines,deployments,pods', '-n', ns, '-o', 'name'], { quiet: true });
    console.log(`\n $ kubectl get ingestpipelines,deployments,pods -n ${ns}`);
    note(left.stdout.trim() || `No resources found in ${ns} namespace.`);
    console.log(
      `\n== tour done in ${since()}: pipeline ${p.name} was Ready, stored ${stored} of ${want}, and was deleted`,
    );
  } catch (err) {
    console.error(`\ndemo failed: ${(err as Error).message}`);
    console.error('---- kubelet (last 30 lines)');
    console.error(runnerLog.slice(-30).join('\n'));
    if (runner) console.error(`---- pods\n${runner.logs(20)}`);
    if (op) console.error(`---- operator (last 30 lines)\n${op.logs.slice(-30).join('\n')}`);
    process.exitCode = 1;
  } finally {
    await runner?.stop();
    await op?.stop();
    await kubectl(['delete', 'namespace', ns, '--wait=false'], { quiet: true }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
