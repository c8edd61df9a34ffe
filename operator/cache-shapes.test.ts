import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slimPod } from './cache-shapes.ts';

test('a cached pod keeps what the autoscaler and the WAL drains read, and drops the rest', () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p-worker-0', namespace: 'ns', labels: { a: 'b' }, ownerReferences: [] },
    spec: {
      containers: [
        {
          name: 'worker',
          image: 'x',
          env: [{ name: 'A', value: 'B' }],
          ports: [{ name: 'metrics', containerPort: 9090 }],
        },
      ],
      volumes: [{ name: 'wal' }],
    },
    status: {
      phase: 'Running',
      podIP: '10.0.0.1',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: 't' }],
      containerStatuses: [{ name: 'worker', image: 'x', state: { terminated: { exitCode: 0, message: '{}' } } }],
    },
  };
  assert.deepEqual(slimPod(pod), {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: pod.metadata,
    spec: { containers: [{ name: 'worker', ports: [{ name: 'metrics', containerPort: 9090 }] }] },
    status: {
      phase: 'Running',
      podIP: '10.0.0.1',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ state: { terminated: { exitCode: 0, message: '{}' } } }],
    },
  });
});
