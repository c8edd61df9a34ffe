// The worker↔operator metrics contract, checked on the real registry: the worker exposes every metric named
// in api/contract.ts, and the autoscaler's parser reads each series it needs from what the worker serves.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AUTOSCALER_SERIES,
  WORKER_PROCESS_METRICS_PREFIX as PREFIX,
  WORKER_METRICS,
  WORKER_PROCESS_METRICS,
} from '../api/contract.ts';
import { parseMetrics, podSample } from '../operator/autoscale/signals.ts';
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

test('the autoscaler reads every series it needs from the worker’s /metrics text', async () => {
  const oldest = Date.now() - 4_000;
  const metrics = new WorkerMetrics('fleet', () => ({
    messages: 7,
    bytes: 700,
    oldestReceivedAt: oldest,
    expired: 0,
  }));
  // What a worker that has received and flushed has recorded (the Receiver creates the qos series).
  metrics.received.labels('0').inc(2);
  metrics.received.labels('1').inc(40);
  metrics.flushedRows.inc(35);
  metrics.batchDuration.observe(0.25);
  metrics.batchDuration.observe(0.75);
  metrics.activeFlushers.set(3);
  metrics.backpressure.set(1);
  const text = await metrics.registry.metrics();

  const series = parseMetrics(text);
  for (const name of Object.values(AUTOSCALER_SERIES)) {
    assert.ok(series.has(name), `${name} is not in the worker's /metrics`);
  }
  const s = podSample('fleet-0', 'uid-1', 1_000, text);
  assert.equal(s.walMessages, 7);
  assert.ok(s.oldestAgeSeconds >= 4 && s.oldestAgeSeconds < 60, `oldest age ${s.oldestAgeSeconds}s`);
  assert.equal(s.received, 42, 'both QoS series, summed');
  assert.equal(s.flushed, 35);
  assert.equal(s.batches, 2);
  assert.equal(s.batchSeconds, 1);
  assert.equal(s.flushers, 3);
  assert.equal(s.backpressure, 1);
});
