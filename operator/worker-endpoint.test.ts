// Where a worker pod is asked: the one endpoint function both the autoscaler's /metrics and the conditions'
// /subsystems go through, and which pods of a pipeline it is asked of.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PIPELINE_LABEL } from './render/meta.ts';
import { endpointUrl, type PodObject, podsOf, running, workerEndpoint } from './worker-endpoint.ts';

const pod = (
  name: string,
  status: PodObject['status'],
  ports?: Array<{ name?: string; containerPort: number }>,
  labels: Record<string, string> = { [PIPELINE_LABEL]: 'fleet', 'app.kubernetes.io/component': 'worker' },
) =>
  ({
    metadata: { name, namespace: 'iot', labels },
    ...(ports ? { spec: { containers: [{ name: 'worker', ports }] } } : {}),
    status,
  }) as PodObject;

test('each listener is found on the pod IP at its named container port, the contract default when none is named', () => {
  const ip = { phase: 'Running', podIP: '10.1.2.3' };
  const moved = pod('w', ip, [
    { name: 'metrics', containerPort: 9191 },
    { name: 'health', containerPort: 8181 },
  ]);
  assert.deepEqual(workerEndpoint(moved, 'metrics'), { host: '10.1.2.3', port: 9191 });
  assert.deepEqual(workerEndpoint(moved, 'health'), { host: '10.1.2.3', port: 8181 });
  assert.deepEqual(workerEndpoint(pod('w', ip), 'metrics'), { host: '10.1.2.3', port: 9090 });
  assert.deepEqual(workerEndpoint(pod('w', ip), 'health'), { host: '10.1.2.3', port: 8081 });
  assert.equal(workerEndpoint(pod('w', { phase: 'Pending' }), 'health'), undefined);
});

test('an IPv6 pod IP is bracketed in the URL', () => {
  assert.equal(endpointUrl({ host: 'fd00::7', port: 9090 }, '/metrics'), 'http://[fd00::7]:9090/metrics');
  assert.equal(endpointUrl({ host: '10.0.0.7', port: 8081 }, '/subsystems'), 'http://10.0.0.7:8081/subsystems');
});

test("a pipeline's worker pods: its label and component, in its namespace; running ones have an IP and stay", () => {
  const pods = [
    pod('fleet-0', { phase: 'Running', podIP: '10.0.0.1' }),
    pod('fleet-1', { phase: 'Running' }),
    pod('other-0', { phase: 'Running', podIP: '10.0.0.3' }, undefined, {
      [PIPELINE_LABEL]: 'other',
      'app.kubernetes.io/component': 'worker',
    }),
    pod('fleet-pgbouncer', { phase: 'Running', podIP: '10.0.0.4' }, undefined, {
      [PIPELINE_LABEL]: 'fleet',
      'app.kubernetes.io/component': 'pgbouncer',
    }),
  ];
  const workers = podsOf(pods, 'iot', 'fleet', 'worker');
  assert.deepEqual(
    workers.map((p) => p.metadata.name),
    ['fleet-0', 'fleet-1'],
  );
  assert.deepEqual(
    workers.filter(running).map((p) => p.metadata.name),
    ['fleet-0'],
  );
  assert.deepEqual(podsOf(pods, 'elsewhere', 'fleet', 'worker'), []);
  const leaving = pod('fleet-2', { phase: 'Running', podIP: '10.0.0.5' });
  leaving.metadata.deletionTimestamp = '2026-11-30T20:00:00Z';
  assert.equal(running(leaving), false);
});
