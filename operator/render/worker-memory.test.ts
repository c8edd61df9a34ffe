import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1PodSpec } from '@kubernetes/client-node';
import { pipeline } from '../../test/lib/pipelines.ts';
import { DEFAULT_WORKER_IMAGE } from './meta.ts';
import { DEFAULT_WORKER_RESOURCES, renderWorker } from './worker.ts';
import { heapMiBForLimit, nodeOptionsForLimit } from './worker-memory.ts';

test('the V8 heap follows the container memory limit, leaving room for what lives outside it', () => {
  const heap = heapMiBForLimit(DEFAULT_WORKER_RESOURCES.limits.memory) as number;
  // The default limit's heap plus the non-heap budget stays inside the limit.
  assert.ok(heap > 64 && heap + 96 <= 512, `heap ${heap} MiB`);
  assert.ok((heapMiBForLimit('2Gi') as number) > (heapMiBForLimit('1Gi') as number));
  assert.equal(heapMiBForLimit(1024 * 2 ** 20), heapMiBForLimit('1Gi'));
  assert.equal(heapMiBForLimit('128Mi'), 64, 'never below 64 MiB');
  assert.equal(heapMiBForLimit(undefined), undefined);
  assert.equal(nodeOptionsForLimit('1e9'), '', 'a quantity it cannot read leaves V8 its own sizing');
});

test('the worker container gets NODE_OPTIONS from its memory limit; none without a limit', () => {
  const env = (spec: Parameters<typeof pipeline>[0]) => {
    const { p, r } = pipeline(spec);
    const pod = renderWorker(p, r, { image: DEFAULT_WORKER_IMAGE, replicas: 1, configHash: 'h' }).spec.template
      .spec as V1PodSpec;
    return pod.containers[0]?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  };
  assert.equal(env({}), nodeOptionsForLimit(DEFAULT_WORKER_RESOURCES.limits.memory));
  assert.equal(env({ resources: { limits: { memory: '2Gi' } } }), nodeOptionsForLimit('2Gi'));
  assert.match(nodeOptionsForLimit('2Gi'), /^--max-semi-space-size=16 --max-old-space-size=1161$/);
  assert.equal(env({ resources: { requests: { memory: '1Gi' } } }), undefined);
});

test('the worker container always bounds glibc malloc arenas, with or without a memory limit', () => {
  const arenas = (spec: Parameters<typeof pipeline>[0]) => {
    const { p, r } = pipeline(spec);
    const pod = renderWorker(p, r, { image: DEFAULT_WORKER_IMAGE, replicas: 1, configHash: 'h' }).spec.template
      .spec as V1PodSpec;
    return pod.containers[0]?.env?.find((e) => e.name === 'MALLOC_ARENA_MAX')?.value;
  };
  assert.equal(arenas({}), '2');
  assert.equal(arenas({ resources: { requests: { memory: '1Gi' } } }), '2');
});
