import assert from 'node:assert/strict';
import { test } from 'node:test';
import { celEquivalents, isTransitionRule } from './cel-equivalents.ts';
import { parsePipelines } from './load-pipeline.ts';
import { ingestPipelineSchema } from './schema.ts';
import type { Schema } from './schema-builders.ts';
import type { IngestPipeline } from './types.ts';

// Every field of the API set once: the type checker ties it to the TypeScript types, the loader ties it
// to the schema, and the walk below proves no schema field is missing from it.
const everything: IngestPipeline = {
  apiVersion: 'mqtt2pg.io/v1alpha1',
  kind: 'IngestPipeline',
  metadata: { name: 'all-fields', namespace: 'iot' },
  spec: {
    source: {
      brokers: ['mqtts://broker:8883'],
      topicFilter: 't/+/d/+/evt/#',
      sharedGroup: 'g',
      qos: 1,
      protocolVersion: 5,
      clientIdPrefix: 'p',
      keepalive: '30s',
      sessionExpiry: '1h',
      receiveMaximum: 1000,
      connectTimeout: '5s',
      auth: { secretRef: { name: 'mqtt', usernameKey: 'u', passwordKey: 'p' } },
      tls: {
        enabled: true,
        caSecretRef: { name: 'ca', key: 'ca.crt' },
        clientCertSecretRef: { name: 'tls', certKey: 'tls.crt', keyKey: 'tls.key' },
        serverName: 'broker',
        insecureSkipVerify: false,
      },
    },
    sink: {
      postgres: {
        host: 'pg',
        port: 5432,
        database: 'db',
        credentialsSecretRef: { name: 'pg', usernameKey: 'u', passwordKey: 'p' },
        sslMode: 'verify-full',
        caSecretRef: { name: 'pg-ca', key: 'ca.crt' },
        applicationName: 'mqtt2pg',
        statementTimeout: '30s',
      },
      schema: 'iot',
      table: 't',
      unparseableTable: 'u',
      payloadFormat: 'binary',
      pgbouncer: {
        enabled: true,
        image: 'pgbouncer:1',
        replicas: 1,
        poolSize: 10,
        maxClientConn: 100,
        resources: { requests: { cpu: '100m' }, limits: { memory: '64Mi' } },
      },
    },
    routes: [
      {
        name: 'readings',
        topicFilter: 'plant/+/line/+/machine/+/reading',
        topicPattern: 'plant/{plant}/line/{line}/machine/{machine}/reading',
        table: 'readings',
        payloadFormat: 'json',
        columns: [
          { name: 'measured_at', type: 'timestamptz', from: 'payload.ts', format: 'epochMillis', required: true },
          { name: 'machine', type: 'text', from: 'topic.machine' },
        ],
        dedup: { key: ['machine', 'measured_at'] },
        partitioning: { column: 'measured_at', interval: '1d', retention: '90d', premake: 4 },
      },
    ],
    wal: { sizeLimit: '1Gi', retention: '1h', storage: { type: 'Persistent', size: '2Gi', storageClassName: 'ssd' } },
    flusher: {
      batchSize: 100,
      batchBytes: '4Mi',
      flushInterval: '50ms',
      flushers: 2,
      minFlushers: 1,
      maxFlushers: 4,
      retry: { initialBackoff: '100ms', maxBackoff: '10s' },
    },
    limits: { maxPayloadSize: '64Ki', maxPacketSize: '256Ki', maxJsonDepth: 32 },
    deadLetter: {
      s3: {
        bucket: 'dlq',
        prefix: 'x/',
        endpoint: 'http://minio:9000',
        region: 'us-east-1',
        forcePathStyle: true,
        credentialsSecretRef: { name: 's3', accessKeyIdKey: 'a', secretAccessKeyKey: 's' },
      },
    },
    autoscaling: {
      enabled: true,
      interval: '15s',
      minReplicas: 1,
      maxReplicas: 2,
      minPoolSize: 5,
      maxPoolSize: 20,
      targetOldestUnflushedAge: '10s',
      targetCommitLatency: '250ms',
      scaleUpCooldown: '30s',
      scaleDownCooldown: '2m',
      postgresMonitoring: {
        host: 'pg',
        port: 5432,
        database: 'db',
        credentialsSecretRef: { name: 'mon', usernameKey: 'u', passwordKey: 'p' },
      },
    },
    replicas: 1,
    image: 'mqtt2pg:1',
    imagePullPolicy: 'IfNotPresent',
    imagePullSecrets: [{ name: 'regcred' }],
    resources: { requests: { cpu: 1 }, limits: { memory: '1Gi' } },
    pod: {
      annotations: { a: 'b' },
      labels: { a: 'b' },
      nodeSelector: { a: 'b' },
      tolerations: [{ key: 'k' }],
      affinity: {},
      priorityClassName: 'high',
    },
    terminationGracePeriodSeconds: 60,
    logLevel: 'info',
    networkPolicy: { enabled: true, metricsFrom: [{ namespaceSelector: {}, podSelector: {} }] },
  },
};

function leafPaths(s: Schema, prefix: string, out: string[]) {
  if (s.properties) {
    for (const [k, v] of Object.entries(s.properties)) leafPaths(v, `${prefix}.${k}`, out);
  } else if (s.items?.properties) {
    leafPaths(s.items, `${prefix}[]`, out);
  } else {
    out.push(prefix);
  }
}

function has(obj: unknown, path: string): boolean {
  let cur: unknown = obj;
  for (const seg of path.split('.').slice(1)) {
    if (seg.endsWith('[]')) cur = (cur as Record<string, unknown[]>)?.[seg.slice(0, -2)]?.[0];
    else cur = (cur as Record<string, unknown>)?.[seg];
    if (cur === undefined) return false;
  }
  return true;
}

test('the types and the schema describe the same fields', () => {
  // source.topicFilter is refused next to spec.routes (each route has its own): the loader reads it without.
  const { topicFilter: _, ...source } = everything.spec.source;
  const r = parsePipelines(JSON.stringify({ ...everything, spec: { ...everything.spec, source } }));
  assert.deepEqual(r.problems, []);
  const paths: string[] = [];
  leafPaths(ingestPipelineSchema.properties?.spec as Schema, '.spec', paths);
  const missing = paths.filter((p) => !has(everything, p));
  assert.deepEqual(missing, [], 'schema fields not covered by the typed example (add them to the types)');
});

test('every CEL rule of the CRD has a JavaScript twin the loader runs', () => {
  const rules: string[] = [];
  const walk = (s: Schema) => {
    for (const r of s['x-kubernetes-validations'] ?? []) rules.push(r.rule);
    for (const v of Object.values(s.properties ?? {})) walk(v);
    if (s.items) walk(s.items);
  };
  walk(ingestPipelineSchema);
  assert.ok(rules.length >= 6);
  const without = rules.filter((r) => !isTransitionRule(r) && !celEquivalents[r]);
  assert.deepEqual(without, []);
});
