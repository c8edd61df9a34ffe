import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1PodSpec } from '@kubernetes/client-node';
import { pipeline } from '../../test/lib/pipelines.ts';
import { DRAIN_CLAIM_LABEL, renderDrainJob, TERMINATION_LOG } from './drain-job.ts';
import { DEFAULT_WORKER_IMAGE, selectorLabels } from './meta.ts';
import { renderWorker } from './worker.ts';

test("a drain Job runs mqtt2pg drain in the worker's pod, with the removed ordinal's PVC as its WAL", () => {
  const { p, r } = pipeline({ replicas: 3 });
  const job = renderDrainJob(p, r, { image: 'img:1', ordinal: 2, timeout: '5s' });
  assert.equal(job.kind, 'Job');
  assert.equal(job.metadata.name, 'fleet-drain-2');
  assert.equal(job.metadata.labels[DRAIN_CLAIM_LABEL], 'wal-fleet-worker-2');
  assert.equal(job.spec.template.metadata.labels['app.kubernetes.io/component'], 'drain');
  const spec = job.spec.template.spec;
  assert.equal(spec.restartPolicy, 'Never');
  assert.equal(spec.automountServiceAccountToken, false);
  const c = spec.containers[0];
  assert.deepEqual(c?.command?.slice(0, 2), ['mqtt2pg', 'drain']);
  assert.ok(c?.command?.includes('--empty-ok'));
  assert.deepEqual(c?.command?.slice(c.command.indexOf('--timeout'), c.command.indexOf('--timeout') + 2), [
    '--timeout',
    '5s',
  ]);
  assert.equal(c?.terminationMessagePath, TERMINATION_LOG);
  assert.deepEqual(c?.command?.slice(-2), ['--termination-log', TERMINATION_LOG]);
  assert.equal(c?.image, 'img:1');
  assert.deepEqual(
    spec.volumes?.find((v) => v.name === 'wal'),
    { name: 'wal', persistentVolumeClaim: { claimName: 'wal-fleet-worker-2' } },
  );
  assert.equal(c?.securityContext?.readOnlyRootFilesystem, true);
  assert.equal(c?.securityContext?.runAsNonRoot, true);
  assert.equal(c?.ports, undefined, 'no ports, no probes');
  assert.equal(c?.livenessProbe, undefined);
});

test("a drain Job mounts what the worker mounts, and its pods never match the workers' selector", () => {
  const { p, r } = pipeline();
  const worker = renderWorker(p, r, { image: DEFAULT_WORKER_IMAGE, replicas: 1, configHash: 'x' });
  const wSpec = worker.spec.template.spec as V1PodSpec;
  const job = renderDrainJob(p, r, { image: DEFAULT_WORKER_IMAGE, ordinal: 0 });
  assert.deepEqual(job.spec.template.spec.containers[0]?.volumeMounts, wSpec.containers[0]?.volumeMounts);
  assert.deepEqual(
    job.spec.template.spec.volumes?.map((v) => v.name).sort(),
    wSpec.volumes
      ?.map((v) => v.name)
      .concat('wal')
      .sort(),
  );
  const podLabels = job.spec.template.metadata.labels;
  const workerSelector = Object.entries(selectorLabels('fleet', 'worker'));
  assert.ok(!workerSelector.every(([k, v]) => podLabels[k] === v));
  assert.equal(job.metadata.ownerReferences?.[0]?.kind, 'IngestPipeline');
});
