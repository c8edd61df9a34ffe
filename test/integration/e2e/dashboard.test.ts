// The Grafana dashboard queries only what the programs export: a live worker (real PostgreSQL, Mosquitto) and
// a live operator (real kube-apiserver) are scraped, and every metric a panel queries must be among their
// series. A renamed or removed metric fails here instead of leaving an empty panel.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { queriedMetrics } from '../../../scripts/packaging/dashboard.ts';
import { metricsText, startOperator } from '../../lib/kube.ts';
import { cleanupDirs, makePipeline, WorkerProcess } from '../../lib/worker-process.ts';
import { cleanUp, pipelineNamespace } from '../operator/operator-setup.ts';

after(cleanupDirs);

/** Metric names a /metrics text declares (# TYPE lines), with a histogram's _bucket, _sum and _count. */
function exported(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name = '', type] = m;
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${name}${s}`);
  }
  return names;
}

test('every metric the dashboard queries is exported by a live worker or the operator', async () => {
  const worker = WorkerProcess.start(makePipeline());
  const ns = await pipelineNamespace('dash');
  const op = startOperator(['--watch-namespace', ns, '--lease-namespace', ns]);
  try {
    await worker.waitReady();
    await op.waitForLog(/caches synced/);
    const workerText = await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text();
    const names = new Set([...exported(workerText), ...exported(await metricsText(op))]);
    const queried = queriedMetrics();
    assert.ok(queried.length >= 12, `the dashboard queries ${queried.length} metrics`);
    assert.deepEqual(
      queried.filter((m) => !names.has(m)),
      [],
      'queried by a panel but exported by neither the worker nor the operator',
    );
  } finally {
    worker.kill('SIGTERM');
    await worker.exited;
    await op.stop();
    await cleanUp(ns);
  }
});
