// The pure parts of gathering: which connections the other pipelines on a database hold, where PostgreSQL is
// read, what the user is told when a Secret is missing, and where PgBouncer pods are asked (worker pods:
// operator/worker-endpoint.test.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IngestPipeline } from '../../api/types.ts';
import { pipeline, type SpecOverrides } from '../../test/lib/pipelines.ts';
import type { KubeObject } from '../runtime/kube.ts';
import {
  credentialsFrom,
  defaultPgBouncerEndpoints,
  otherPipelinesConnections,
  type PodObject,
  postgresSource,
} from './gather.ts';

const postgres = (host: string, database = 'telemetry') => ({
  host,
  database,
  credentialsSecretRef: { name: 'pg-creds' },
});

/** A pipeline as the informer holds it, with the status the autoscaler may have written. */
const stored = (name: string, spec: SpecOverrides, status?: IngestPipeline['status']) => {
  const { p } = pipeline(spec, name);
  return { ...p, ...(status ? { status } : {}) } as IngestPipeline & KubeObject;
};

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('other pipelines on the same database count with their current sizes; this one, others and broken ones do not', () => {
  const sink = (host: string, database?: string, pgbouncer?: object) => ({
    postgres: postgres(host, database),
    ...(pgbouncer ? { pgbouncer } : {}),
  });
  const { r } = pipeline({ sink: sink('pg-rw.db.svc') }, 'fleet');
  const all = [
    stored('fleet', { sink: sink('pg-rw.db.svc'), flusher: { flushers: 8 } }),
    // 3 flushers × 2 pods = 6 connections.
    stored('plain', { sink: sink('pg-rw.db.svc'), flusher: { flushers: 3 }, replicas: 2 }),
    // Autoscaled to 4 flushers × 2 pods, but PgBouncer (pool 5, 1 replica) caps it at 5 server connections.
    stored(
      'pooled',
      {
        sink: sink('pg-rw.db.svc', undefined, { enabled: true, poolSize: 5 }),
        autoscaling: { enabled: true, maxReplicas: 4 },
      },
      { autoscaling: { current: { flushers: 4, replicas: 2, poolSize: 5 } } },
    ),
    stored('elsewhere', { sink: sink('pg-other.db.svc'), flusher: { flushers: 7 } }),
    stored('other-db', { sink: sink('pg-rw.db.svc', 'archive'), flusher: { flushers: 7 } }),
    {
      ...stored('going', { sink: sink('pg-rw.db.svc'), flusher: { flushers: 7 } }),
      metadata: {
        name: 'going',
        namespace: 'iot',
        deletionTimestamp: '2025-03-01T12:00:00Z',
      },
    },
    // A name the children cannot be named after: the reconciler reports it, the autoscaler ignores it.
    {
      ...stored('broken', { sink: sink('pg-rw.db.svc'), flusher: { flushers: 7 } }),
      metadata: { name: 'Bad_Name', namespace: 'iot' },
    },
  ];
  assert.equal(otherPipelinesConnections(all, 'iot/fleet', r), 6 + 5);
});

test('PostgreSQL counts are read through postgresMonitoring when set, else with the sink credentials', () => {
  const { r } = pipeline({ sink: { postgres: { ...postgres('pg-rw.db.svc'), port: 5433, sslMode: 'require' } } });
  assert.deepEqual(postgresSource(r), {
    server: { host: 'pg-rw.db.svc', port: 5433, database: 'telemetry', ssl: { mode: 'require' } },
    credentials: { name: 'pg-creds', usernameKey: 'username', passwordKey: 'password' },
    field: 'spec.sink.postgres.credentialsSecretRef',
  });
  const monitored = pipeline({
    sink: { postgres: postgres('pg-rw.db.svc') },
    autoscaling: {
      enabled: true,
      postgresMonitoring: { host: 'pg-ro.db.svc', database: 'postgres', credentialsSecretRef: { name: 'monitor' } },
    },
  }).r;
  assert.deepEqual(postgresSource(monitored), {
    server: { host: 'pg-ro.db.svc', port: 5432, database: 'postgres', ssl: false },
    credentials: { name: 'monitor', usernameKey: 'username', passwordKey: 'password' },
    field: 'spec.autoscaling.postgresMonitoring.credentialsSecretRef',
  });
});

test('a missing Secret or key is reported with the spec field that names it', () => {
  const ref = { name: 'pg-creds', usernameKey: 'username', passwordKey: 'password' };
  const field = 'spec.sink.postgres.credentialsSecretRef';
  assert.throws(() => credentialsFrom(undefined, ref, field, 'iot'), {
    message: 'spec.sink.postgres.credentialsSecretRef: Secret "pg-creds" not found in namespace iot',
  });
  assert.throws(() => credentialsFrom({ username: b64('ingest') }, ref, field, 'iot'), {
    message: 'spec.sink.postgres.credentialsSecretRef: Secret "pg-creds" lacks key "username" or "password"',
  });
  // A trailing newline (echo into kubectl create secret) is not part of the password.
  assert.deepEqual(credentialsFrom({ username: b64('ingest'), password: b64('s3cret\n') }, ref, field, 'iot'), {
    user: 'ingest',
    password: 's3cret',
  });
});

const pod = (name: string, status: PodObject['status'], ports?: Array<{ name?: string; containerPort: number }>) =>
  ({
    metadata: { name, namespace: 'iot' },
    ...(ports ? { spec: { containers: [{ name: 'worker', ports }] } } : {}),
    status,
  }) as PodObject;

test('PgBouncer is asked on every running pod, or through its Service while none runs', () => {
  const { r } = pipeline({ sink: { postgres: postgres('pg-rw.db.svc'), pgbouncer: { enabled: true } } });
  const pods = [
    pod('b-1', { phase: 'Running', podIP: '10.1.0.1' }),
    pod('b-2', { phase: 'Pending' }),
    pod('b-3', { phase: 'Running', podIP: '10.1.0.3' }),
  ];
  assert.deepEqual(defaultPgBouncerEndpoints(r, pods), [
    { host: '10.1.0.1', port: 6432 },
    { host: '10.1.0.3', port: 6432 },
  ]);
  assert.deepEqual(defaultPgBouncerEndpoints(r, pods.slice(1, 2)), [{ host: 'fleet-pgbouncer.iot.svc', port: 6432 }]);
});

test('a pipeline changed in the cache (a new object) counts with its new sizes, an unchanged one as before', () => {
  const sink = { postgres: postgres('pg-rw.db.svc') };
  const { r } = pipeline({ sink }, 'fleet');
  const plain = stored('plain', { sink, flusher: { flushers: 3 } });
  const all = [stored('fleet', { sink }), plain];
  assert.equal(otherPipelinesConnections(all, 'iot/fleet', r), 3);
  assert.equal(otherPipelinesConnections(all, 'iot/fleet', r), 3);
  const raised = stored('plain', { sink, flusher: { flushers: 5 } });
  assert.equal(otherPipelinesConnections([all[0] as IngestPipeline & KubeObject, raised], 'iot/fleet', r), 5);
});
