// Cold start at scale: N pipelines exist before the operator starts; how long until every one has its
// children and a status for its generation, and how much memory the operator holds then.
//   set -a; . .test-env/env; set +a; node bench/cold-start.ts [--pipelines 200] [--concurrency 4]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pipelinesPath } from '../api/contract.ts';
import type { KubeList } from '../operator/runtime/kube.ts';
import { eventually } from '../test/lib/eventually.ts';
import {
  apply,
  createNamespace,
  deleteNamespace,
  kubeClient,
  type PipelineObject,
  secretYaml,
  startOperator,
} from '../test/lib/kube.ts';
import { apiPipeline } from '../test/lib/pipelines.ts';

const { values } = parseArgs({
  options: { pipelines: { type: 'string', default: '200' }, concurrency: { type: 'string', default: '4' } },
});
const n = Number(values.pipelines);
const client = await kubeClient();
const ns = await createNamespace('bench');
const rssMiB = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
};
try {
  await apply(ns, secretYaml('pg', { username: 'u', password: 'p' }));
  const docs = Array.from({ length: n }, (_, i) => apiPipeline(ns, `p${i}`, { replicas: 1 + (i % 3) }));
  for (let i = 0; i < n; i += 50) await apply(ns, ...docs.slice(i, i + 50));
  const listPath = pipelinesPath(ns);
  const done = async () => {
    const list = await client.request<KubeList<PipelineObject>>('GET', listPath);
    const reconciled = list.items.filter((p) => p.status?.observedGeneration === p.metadata.generation).length;
    if (reconciled < n) throw new Error(`${reconciled}/${n} reconciled`);
  };

  const t0 = Date.now();
  const op = startOperator(['--watch-namespace', ns, '--no-leader-elect', '--concurrency', String(values.concurrency)]);
  await op.waitForLog(/caches synced/, 60_000);
  const synced = Date.now() - t0;
  await eventually(done, { timeoutMs: 600_000, intervalMs: 250, what: `${n} pipelines reconciled` });
  const total = Date.now() - t0;
  const pid = op.child.pid ?? 0;
  const rssAtDone = rssMiB(pid);
  const deployments = await client.request<KubeList>('GET', `/apis/apps/v1/namespaces/${ns}/deployments`);
  // Steady state: a resync of everything, which must cost no writes.
  await op.stop();
  console.log(
    JSON.stringify(
      {
        pipelines: n,
        concurrency: Number(values.concurrency),
        cachesSyncedMs: synced,
        allReconciledMs: total,
        perPipelineMs: Math.round((total - synced) / n),
        operatorRssMiB: rssAtDone,
        deployments: deployments.items.length,
      },
      null,
      2,
    ),
  );
} finally {
  client.close();
  await deleteNamespace(ns);
}
