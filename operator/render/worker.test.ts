import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1PodSpec } from '@kubernetes/client-node';
import { pipeline } from '../../test/lib/pipelines.ts';
import { renderAll, workerPodHash } from './index.ts';
import { CONFIG_HASH_ANNOTATION, DEFAULT_WORKER_IMAGE } from './meta.ts';
import { renderWorker } from './worker.ts';

type Workload = ReturnType<typeof renderWorker>;
const podSpec = (w: Workload) => w.spec.template.spec as V1PodSpec;
const input = { image: DEFAULT_WORKER_IMAGE, replicas: 3, configHash: 'abc' };

test('an ephemeral WAL (opt-in) gives a Deployment with a size-limited emptyDir', () => {
  const { p, r } = pipeline({ wal: { sizeLimit: '1Gi', storage: { type: 'Ephemeral' } } });
  const w = renderWorker(p, r, input);
  assert.equal(w.kind, 'Deployment');
  assert.equal(w.metadata.name, 'fleet-worker');
  assert.equal(w.spec.replicas, 3);
  const wal = podSpec(w).volumes?.find((v) => v.name === 'wal');
  assert.deepEqual(wal?.emptyDir, { sizeLimit: '1536Mi' });
});

test('a Deployment pod is told its identity is ephemeral (its session ends with it); a StatefulSet pod is not', () => {
  const identity = (w: Workload) => podSpec(w).containers[0]?.env?.find((e) => e.name === 'MQTT2PG_IDENTITY')?.value;
  const eph = pipeline({ wal: { storage: { type: 'Ephemeral' } } });
  assert.equal(identity(renderWorker(eph.p, eph.r, input)), 'ephemeral');
  const pers = pipeline();
  assert.equal(identity(renderWorker(pers.p, pers.r, input)), undefined);
});

test('a persistent WAL (the default) gives a StatefulSet with a retained PVC per pod', () => {
  const byDefault = pipeline({ wal: { sizeLimit: '1Gi' } });
  const d = renderWorker(byDefault.p, byDefault.r, input);
  assert.equal(d.kind, 'StatefulSet');
  const claims = (d.spec as { volumeClaimTemplates: Array<{ spec: { resources: unknown } }> }).volumeClaimTemplates;
  assert.deepEqual(claims[0]?.spec.resources, { requests: { storage: '1536Mi' } }, '1.5 × sizeLimit');

  const { p, r } = pipeline({ wal: { storage: { type: 'Persistent', size: '12Gi', storageClassName: 'fast' } } });
  const w = renderWorker(p, r, input);
  assert.equal(w.kind, 'StatefulSet');
  const spec = w.spec as Record<string, unknown> & {
    volumeClaimTemplates: Array<{ metadata: { name: string }; spec: Record<string, unknown> }>;
  };
  assert.equal(spec.podManagementPolicy, 'Parallel');
  assert.deepEqual(spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: 'Retain', whenScaled: 'Retain' });
  assert.equal(spec.volumeClaimTemplates[0]?.metadata.name, 'wal');
  assert.deepEqual(spec.volumeClaimTemplates[0]?.spec, {
    accessModes: ['ReadWriteOnce'],
    resources: { requests: { storage: '12Gi' } },
    storageClassName: 'fast',
  });
  assert.equal(
    podSpec(w).volumes?.find((v) => v.name === 'wal'),
    undefined,
  );
});

test('the container runs the worker contract: command, pod name, ports, probes, mounts', () => {
  const { p, r } = pipeline({
    deadLetter: { s3: { bucket: 'dlq-bucket', credentialsSecretRef: { name: 's3-creds' } } },
  });
  const spec = podSpec(renderWorker(p, r, input));
  const c = spec.containers[0];
  assert.ok(c);
  assert.deepEqual(c.command, [
    'mqtt2pg',
    'worker',
    '-f',
    '/etc/mqtt2pg/pipeline.yaml',
    '--secrets-dir',
    '/var/run/secrets/mqtt2pg',
    '--wal-dir',
    '/var/lib/mqtt2pg/wal',
  ]);
  assert.deepEqual(
    c.env?.find((e) => e.name === 'POD_NAME')?.valueFrom,
    { fieldRef: { fieldPath: 'metadata.name' } },
    'the MQTT client id is <prefix>-<pod name>',
  );
  assert.deepEqual(
    c.ports?.map((x) => [x.name, x.containerPort]),
    [
      ['metrics', 9090],
      ['health', 8081],
    ],
  );
  assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
  assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
  const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
  assert.equal(mounts['/etc/mqtt2pg'], 'config');
  assert.equal(mounts['/var/lib/mqtt2pg/wal'], 'wal');
  assert.equal(mounts['/tmp'], 'tmp');
  for (const secret of ['mqtt-creds', 'pg-creds', 's3-creds']) {
    const volumeName = mounts[`/var/run/secrets/mqtt2pg/${secret}`];
    assert.ok(volumeName, `${secret} mounted`);
    assert.equal(spec.volumes?.find((v) => v.name === volumeName)?.secret?.secretName, secret);
  }
  assert.equal(spec.serviceAccountName, 'fleet-worker');
});

test('the worker runs non-root on a read-only root filesystem with time to drain', () => {
  const { p, r } = pipeline({ terminationGracePeriodSeconds: 120 });
  const spec = podSpec(renderWorker(p, r, input));
  const sc = spec.containers[0]?.securityContext;
  assert.equal(sc?.runAsNonRoot, true);
  assert.equal(sc?.readOnlyRootFilesystem, true);
  assert.equal(sc?.allowPrivilegeEscalation, false);
  assert.deepEqual(sc?.capabilities?.drop, ['ALL']);
  assert.equal(spec.terminationGracePeriodSeconds, 120);
});

test('an Ephemeral worker with a bucket gets the time to spill its WAL on top of the drain time', () => {
  const { p, r } = pipeline({
    terminationGracePeriodSeconds: 30,
    wal: { sizeLimit: '256Mi', storage: { type: 'Ephemeral' } },
    deadLetter: { s3: { bucket: 'dlq' } },
  });
  assert.equal(podSpec(renderWorker(p, r, input)).terminationGracePeriodSeconds, 30 + 5 + 16);
  const noBucket = pipeline({ terminationGracePeriodSeconds: 30, wal: { storage: { type: 'Ephemeral' } } });
  assert.equal(podSpec(renderWorker(noBucket.p, noBucket.r, input)).terminationGracePeriodSeconds, 30);
});

test('resources, image, scheduling and pod metadata come from the spec', () => {
  const { p, r } = pipeline({
    image: 'registry.local/mqtt2pg:dev',
    resources: { requests: { cpu: '1' }, limits: { memory: '2Gi' } },
    pod: {
      labels: { team: 'iot', 'app.kubernetes.io/name': 'hijack' },
      annotations: { a: 'b' },
      nodeSelector: { pool: 'ingest' },
    },
  });
  const objects = renderAll(p, r);
  const w = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'fleet-worker') as unknown as Workload;
  const spec = podSpec(w);
  assert.equal(spec.containers[0]?.image, 'registry.local/mqtt2pg:dev');
  assert.deepEqual(spec.containers[0]?.resources, { requests: { cpu: '1' }, limits: { memory: '2Gi' } });
  assert.deepEqual(spec.nodeSelector, { pool: 'ingest' });
  const meta = w.spec.template.metadata;
  assert.equal(meta.labels.team, 'iot');
  assert.equal(meta.labels['app.kubernetes.io/name'], 'mqtt2pg', 'user labels cannot break the selector');
  assert.equal((meta.annotations as Record<string, string>).a, 'b');
});

test('the pod hash follows the config and the referenced Secrets’ versions, not unrelated changes', () => {
  const { p, r } = pipeline();
  const secrets = (pgVersion: string) =>
    new Map([
      ['pg-creds', pgVersion],
      ['mqtt-creds', '41'],
    ]);
  const base = workerPodHash(p, r, 2, secrets('100'));
  assert.equal(workerPodHash(p, r, 2, secrets('100')), base, 'stable');
  assert.notEqual(workerPodHash(p, r, 2, secrets('101')), base, 'a rotated Secret rolls the pods');
  const changed = pipeline({ sink: { ...p.spec.sink, table: 'other' } });
  assert.notEqual(workerPodHash(changed.p, changed.r, 2, secrets('100')), base, 'a config change rolls the pods');
  const scaled = pipeline({ replicas: 5 });
  assert.equal(workerPodHash(scaled.p, scaled.r, 2, secrets('100')), base, 'scaling does not roll the pods');
  // A WAL resize (operator/volume-resize.ts) replaces the StatefulSet with the pods kept: same hash.
  const wal = (o: object) => pipeline({ wal: { sizeLimit: '1Gi', ...o } });
  const sized = (o: object) => workerPodHash(wal(o).p, wal(o).r, 2, secrets('100'));
  const volume = sized({ storage: { type: 'Persistent', size: '4Gi', storageClassName: 'fast' } });
  assert.equal(volume, sized({ storage: { type: 'Persistent', size: '8Gi', storageClassName: 'other' } }));
  assert.notEqual(sized({ sizeLimit: '2Gi' }), sized({}), 'a sizeLimit change rolls the pods');
  const objects = renderAll(p, r, { secretVersions: secrets('100') });
  const w = objects.find((o) => o.metadata.name === 'fleet-worker' && o.kind === 'StatefulSet') as unknown as Workload;
  assert.equal(w.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION], base);
});

test('worker pods mount only the Secret keys the worker reads, never the autoscaler’s monitoring credentials', () => {
  const { p, r } = pipeline({
    autoscaling: {
      enabled: true,
      postgresMonitoring: { credentialsSecretRef: { name: 'pg-monitor' } },
    },
  });
  const spec = podSpec(renderWorker(p, r, input));
  const mounted = (spec.volumes ?? [])
    .filter((v) => v.secret)
    .map((v) => `${v.secret?.secretName}: ${(v.secret?.items ?? []).map((i) => i.key).join(',')}`);
  assert.deepEqual(mounted, ['mqtt-creds: username,password', 'pg-creds: username,password']);
});
