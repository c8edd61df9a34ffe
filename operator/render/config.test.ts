import assert from 'node:assert/strict';
import { test } from 'node:test';
import { load } from 'js-yaml';
import { WORKER_CONFIG_FILE } from '../../api/contract.ts';
import { parsePipelines } from '../../api/load-pipeline.ts';
import type { IngestPipeline } from '../../api/types.ts';
import { pipeline } from '../../test/lib/pipelines.ts';
import { FLUSHERS_APPLY_LIVE, renderWorkerConfig, workerConfigHashInput } from './config.ts';

const configOf = (p: IngestPipeline, r: Parameters<typeof renderWorkerConfig>[1], flushers = 2) =>
  renderWorkerConfig(p, r, { flushers }).data[WORKER_CONFIG_FILE];

test('the worker ConfigMap loads back through the worker loader, pointed at PgBouncer', () => {
  const { p, r } = pipeline({
    sink: {
      postgres: {
        host: 'pg-rw.db.svc',
        database: 'telemetry',
        sslMode: 'verify-full',
        caSecretRef: { name: 'pg-ca' },
        credentialsSecretRef: { name: 'pg-creds' },
      },
    },
  });
  const cm = renderWorkerConfig(p, r, { flushers: 5 });
  assert.equal(cm.metadata.name, 'fleet-worker-config');
  assert.equal(cm.metadata.namespace, 'iot');
  assert.equal(cm.metadata.ownerReferences?.[0]?.uid, p.metadata.uid);
  const loaded = parsePipelines(cm.data[WORKER_CONFIG_FILE]);
  assert.deepEqual(loaded.problems, []);
  const back = loaded.pipelines[0]?.resolved;
  assert.ok(back);
  assert.equal(back.name, 'fleet');
  assert.equal(back.namespace, 'iot');
  assert.equal(back.sink.postgres.host, 'fleet-pgbouncer.iot.svc');
  assert.equal(back.sink.postgres.port, 6432);
  assert.equal(back.sink.postgres.sslMode, 'disable');
  assert.equal(back.sink.postgres.ca, undefined, 'TLS to PostgreSQL is PgBouncer’s job');
  assert.equal(back.sink.postgres.credentials.name, 'pg-creds');
  assert.equal(back.flusher.flushers, 5);
  assert.equal(back.source.auth?.name, 'mqtt-creds');
});

test('without PgBouncer the worker connects to postgres.host as written', () => {
  const { p, r } = pipeline({
    sink: {
      postgres: { host: 'pooler.db', port: 6543, database: 'telemetry', credentialsSecretRef: { name: 'pg-creds' } },
      pgbouncer: { enabled: false },
    },
  });
  const back = parsePipelines(configOf(p, r) ?? '').pipelines[0]?.resolved;
  assert.equal(back?.sink.postgres.host, 'pooler.db');
  assert.equal(back?.sink.postgres.port, 6543);
});

test('the rendered document carries only name and namespace of the metadata', () => {
  const { p, r } = pipeline();
  const doc = load(configOf(p, r) ?? '') as IngestPipeline;
  assert.deepEqual(doc.metadata, { name: 'fleet', namespace: 'iot' });
  assert.equal(doc.kind, 'IngestPipeline');
});

test('the user spec object is not modified by rendering', () => {
  const { p, r } = pipeline();
  const before = JSON.stringify(p);
  renderWorkerConfig(p, r, { flushers: 7 });
  assert.equal(JSON.stringify(p), before);
});

test('with autoscaling on, a flusher change does not roll the workers: they apply it live', () => {
  const { p, r } = pipeline({ autoscaling: { enabled: true } });
  assert.equal(FLUSHERS_APPLY_LIVE, true);
  assert.deepEqual(workerConfigHashInput(p, r, 2), workerConfigHashInput(p, r, 3));
  // Everything else in the flusher section still rolls them.
  const { p: p2, r: r2 } = pipeline({ autoscaling: { enabled: true }, flusher: { batchSize: 77 } });
  assert.notDeepEqual(workerConfigHashInput(p, r, 2), workerConfigHashInput(p2, r2, 2));
});

test('with autoscaling off, the workers run the count of their file: a change rolls them', () => {
  const { p, r } = pipeline();
  assert.notDeepEqual(workerConfigHashInput(p, r, 2), workerConfigHashInput(p, r, 3));
  const { p: on, r: rOn } = pipeline({ autoscaling: { enabled: true } });
  assert.notDeepEqual(workerConfigHashInput(p, r, 2), workerConfigHashInput(on, rOn, 2), 'turning it on or off rolls');
});
