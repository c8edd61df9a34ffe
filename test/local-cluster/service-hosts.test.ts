// The stand-in for cluster DNS: a Service name resolves to a ready pod it selects, or not at all.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { serviceHosts } from './service-hosts.ts';

const service = (name: string, selector?: Record<string, string>): V1Service => ({
  metadata: { name },
  spec: selector ? { selector } : {},
});
const pod = (name: string, app: string, ip: string, ready: boolean, deleting = false): V1Pod => ({
  metadata: { name, labels: { app }, ...(deleting ? { deletionTimestamp: new Date() } : {}) },
  status: { podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

test('every DNS form of a Service name resolves to its first ready, active pod by name', () => {
  const table = serviceHosts(
    'ns',
    [service('p-pgbouncer', { app: 'pgbouncer' })],
    [
      pod('pgb-a', 'pgbouncer', '127.0.0.2', true, true),
      pod('pgb-b', 'pgbouncer', '127.0.0.3', false),
      pod('pgb-d', 'pgbouncer', '127.0.0.5', true),
      pod('pgb-c', 'pgbouncer', '127.0.0.4', true),
      pod('worker', 'worker', '127.0.0.6', true),
    ],
  );
  assert.deepEqual(table, {
    'p-pgbouncer': '127.0.0.4',
    'p-pgbouncer.ns': '127.0.0.4',
    'p-pgbouncer.ns.svc': '127.0.0.4',
    'p-pgbouncer.ns.svc.cluster.local': '127.0.0.4',
  });
});

test('a Service without a selector or without a ready pod gets no entry (the name fails as in a cluster)', () => {
  const pods = [pod('pgb-a', 'pgbouncer', '127.0.0.2', false)];
  assert.deepEqual(serviceHosts('ns', [service('headless'), service('p-pgbouncer', { app: 'pgbouncer' })], pods), {});
});
