// The worker's side of the worker↔operator metrics contract, checked on the real registry: it registers
// every metric api/contract.ts names, and its /metrics page carries every series the autoscaler reads
// (operator/autoscale/signals.test.ts checks the autoscaler reads them under those names).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AUTOSCALER_SERIES,
  WORKER_PROCESS_METRICS_PREFIX as PREFIX,
  WORKER_METRICS,
  WORKER_PROCESS_METRICS,
} from '../api/contract.ts';
import { WorkerMetrics } from './metrics.ts';

test('the worker registers every metric of the contract, and none outside it', async () => {
  const metrics = new WorkerMetrics('fleet', () => undefined);
  const registered = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
  for (const name of [...Object.values(WORKER_METRICS), ...Object.values(WORKER_PROCESS_METRICS)]) {
    assert.ok(registered.includes(name), `worker/metrics.ts does not register ${name}`);
  }
  // prom-client's process and Node.js metrics, under the worker's prefix.
  const own = registered.filter((n) => !n.startsWith(`${PREFIX}process_`) && !n.startsWith(`${PREFIX}nodejs_`));
  const named: string[] = Object.values(WORKER_METRICS);
  assert.deepEqual(
    own.filter((n) => !named.includes(n)),
    [],
    'a worker metric is missing from WORKER_METRICS in api/contract.ts',
  );
});

test('the worker’s /metrics page carries every series the autoscaler reads', async () => {
  const metrics = new WorkerMetrics('fleet', () => ({
    messages: 7,
    bytes: 700,
    diskBytes: 9000,
    oldestReceivedAt: Date.now() - 4_000,
    expired: 0,
  }));
  // What a worker that has received and flushed has recorded (the Receiver creates the qos series).
  metrics.received.labels('1').inc(40);
  metrics.flushedRows.inc(35);
  metrics.batchDuration.observe(0.25);
  const page = await metrics.registry.metrics();
  const served = new Map(
    page
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.search(/[{ ]/)), Number(line.slice(line.lastIndexOf(' ') + 1))]),
  );
  for (const name of Object.values(AUTOSCALER_SERIES)) {
    assert.ok(served.has(name), `${name} is not on the worker's /metrics page`);
  }
  assert.equal(served.get(AUTOSCALER_SERIES.walMessages), 7);
  assert.equal(served.get(WORKER_METRICS.walDiskBytes), 9000);
  assert.equal(served.get(AUTOSCALER_SERIES.received), 40);
  assert.equal(served.get(AUTOSCALER_SERIES.batchCount), 1);
  assert.ok((served.get(AUTOSCALER_SERIES.oldestUnflushedAge) ?? 0) >= 4);
});
