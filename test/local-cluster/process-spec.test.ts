// How the local kubelet runs an `mqtt2pg` container: the stand-in for cluster DNS is preloaded by the node
// command line, so the container's own NODE_OPTIONS (the worker's heap flags from its memory limit) reaches
// the process as the pod spec says. Both used to share NODE_OPTIONS, and the env var replacing the preload
// left workers unable to resolve PgBouncer's Service name.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { V1Container } from '@kubernetes/client-node';
import { CLUSTER_DNS_PRELOAD, mqtt2pgArgs } from './process-spec.ts';

test('a Node process with the preload resolves Service names and keeps the heap flags of its NODE_OPTIONS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-process-spec-'));
  try {
    const hosts = join(dir, 'hosts.json');
    writeFileSync(hosts, JSON.stringify({ 'p-pgbouncer.ns.svc': '127.0.0.7' }));
    const script = `
      const { address } = await import('node:dns').then((d) => d.promises.lookup('p-pgbouncer.ns.svc'));
      const heapMiB = (await import('node:v8')).getHeapStatistics().heap_size_limit / 2 ** 20;
      console.log(JSON.stringify({ address, heapMiB }));`;
    const run = (nodeOptions: string) =>
      JSON.parse(
        execFileSync(process.execPath, [...CLUSTER_DNS_PRELOAD, '--input-type=module', '-e', script], {
          env: { ...process.env, NODE_OPTIONS: nodeOptions, MQTT2PG_LOCAL_CLUSTER_HOSTS: hosts },
          encoding: 'utf8',
        }),
      ) as { address: string; heapMiB: number };
    const limited = run('--max-old-space-size=96');
    assert.equal(limited.address, '127.0.0.7', 'the Service name resolves through the runner table');
    // heap_size_limit is the old space plus the young generation: compare with Node's default, not with 96.
    const unlimited = run('');
    assert.ok(
      limited.heapMiB < unlimited.heapMiB - 96,
      `the heap limit follows NODE_OPTIONS (${limited.heapMiB} MiB, ${unlimited.heapMiB} MiB without)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mqtt2pgArgs: the preload, then cli/main.ts and the container args; a worker binds its pod IP and ports', () => {
  const c: V1Container = {
    name: 'worker',
    command: ['mqtt2pg'],
    ports: [
      { name: 'metrics', containerPort: 9090 },
      { name: 'health', containerPort: 8080 },
    ],
  };
  const o = { repoRoot: '/repo', podIp: '127.0.0.9' };
  assert.deepEqual(mqtt2pgArgs(c, ['worker', '-f', '/etc/p.yaml'], o), [
    ...CLUSTER_DNS_PRELOAD,
    '/repo/cli/main.ts',
    'worker',
    '-f',
    '/etc/p.yaml',
    '--listen-host',
    '127.0.0.9',
    '--metrics-port',
    '9090',
    '--health-port',
    '8080',
  ]);
  assert.deepEqual(mqtt2pgArgs(c, ['operator'], o), [...CLUSTER_DNS_PRELOAD, '/repo/cli/main.ts', 'operator']);
});
