// Every default the schema documents ("Defaults to X", or "X (default)" in an enum's description) against
// what resolvePipeline applies. A new "Defaults to" needs a row in EXPECTED; a changed value fails here.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPipeline } from './check.ts';
import { DEFAULT_IMAGE_PULL_POLICY, DEFAULT_METRICS_FROM, type ResolvedPipeline } from './defaults.ts';
import { BYTES_PATTERN, DURATION_PATTERN, specSchema } from './schema.ts';
import type { Schema } from './schema-builders.ts';
import { API_VERSION, type IngestPipeline, type IngestPipelineSpec, KIND } from './types.ts';
import { parseBytes, parseDurationMs } from './units.ts';

/**
 * How to read one documented default off a resolved pipeline, in the unit the text uses (durations in ms,
 * sizes in bytes). A literal default ("Defaults to 30s") is parsed from the text by the field's type; a
 * relational one ("Defaults to replicas") names its text and the value it stands for.
 */
type Expectation = (
  | { applied: (r: ResolvedPipeline) => unknown }
  | { text: string; applied: (r: ResolvedPipeline) => unknown; means: (r: ResolvedPipeline) => unknown }
  | { text: string; appliedBy: string }
) & {
  /** Spec fields that override the default when set (checked only in pipelines without them). */
  overriddenBy?: string[];
};

const seconds = (s: number) => s * 1000;

const EXPECTED: Record<string, Expectation> = {
  'source.topicFilter': { applied: (r) => r.source.topicFilter },
  'source.sharedGroup': { text: 'the pipeline name', applied: (r) => r.source.sharedGroup, means: (r) => r.name },
  'source.qos': { applied: (r) => r.source.qos },
  'source.protocolVersion': { applied: (r) => r.source.protocolVersion },
  'source.clientIdPrefix': { applied: (r) => r.source.clientIdPrefix },
  'source.keepalive': { applied: (r) => seconds(r.source.keepaliveSeconds) },
  'source.sessionExpiry': { applied: (r) => seconds(r.source.sessionExpirySeconds) },
  'source.receiveMaximum': { applied: (r) => r.source.receiveMaximum },
  'source.connectTimeout': { applied: (r) => r.source.connectTimeoutMs },
  'source.auth.secretRef.usernameKey': { applied: (r) => r.source.auth?.usernameKey },
  'source.auth.secretRef.passwordKey': { applied: (r) => r.source.auth?.passwordKey },
  'source.tls.enabled': {
    applied: (r) => r.source.tls !== undefined,
    overriddenBy: ['source.tls.caSecretRef', 'source.tls.clientCertSecretRef'],
  },
  'source.tls.caSecretRef.key': { applied: (r) => r.source.tls?.ca?.key },
  'source.tls.clientCertSecretRef.certKey': { applied: (r) => r.source.tls?.clientCert?.certKey },
  'source.tls.clientCertSecretRef.keyKey': { applied: (r) => r.source.tls?.clientCert?.keyKey },
  // Without TLS there is nothing to skip.
  'source.tls.insecureSkipVerify': { applied: (r) => r.source.tls?.insecureSkipVerify ?? false },
  'sink.postgres.port': { applied: (r) => r.sink.postgres.port },
  'sink.postgres.credentialsSecretRef.usernameKey': { applied: (r) => r.sink.postgres.credentials.usernameKey },
  'sink.postgres.credentialsSecretRef.passwordKey': { applied: (r) => r.sink.postgres.credentials.passwordKey },
  'sink.postgres.sslMode': { applied: (r) => r.sink.postgres.sslMode },
  'sink.postgres.caSecretRef.key': { applied: (r) => r.sink.postgres.ca?.key },
  'sink.postgres.applicationName': { applied: (r) => r.sink.postgres.applicationName },
  'sink.postgres.statementTimeout': { applied: (r) => r.sink.postgres.statementTimeoutMs },
  'sink.schema': { applied: (r) => r.sink.schema },
  'sink.table': { applied: (r) => r.sink.table },
  'sink.unparseableTable': { applied: (r) => r.sink.unparseableTable },
  'sink.payloadFormat': { applied: (r) => r.sink.payloadFormat },
  'sink.pgbouncer.enabled': { applied: (r) => r.sink.pgbouncer.enabled },
  // The loader leaves it unset: the operator applies --pgbouncer-image, else DEFAULT_PGBOUNCER_IMAGE.
  'sink.pgbouncer.image': {
    text: 'the operator default PgBouncer image',
    applied: (r) => r.sink.pgbouncer.image,
    means: () => undefined,
  },
  'sink.pgbouncer.replicas': { applied: (r) => r.sink.pgbouncer.replicas },
  'sink.pgbouncer.poolSize': { applied: (r) => r.sink.pgbouncer.poolSize },
  'sink.pgbouncer.maxClientConn': { applied: (r) => r.sink.pgbouncer.maxClientConn },
  'wal.sizeLimit': { applied: (r) => r.wal.sizeLimitBytes },
  'wal.retention': { applied: (r) => r.wal.retentionMs },
  'wal.storage.type': { applied: (r) => r.wal.storage.type },
  'wal.storage.size': {
    text: 'the larger of 1.5 × sizeLimit and sizeLimit + 64Mi',
    applied: (r) => r.wal.storage.sizeBytes,
    means: (r) => Math.max(Math.ceil(1.5 * r.wal.sizeLimitBytes), r.wal.sizeLimitBytes + 64 * 2 ** 20),
  },
  // Left out of the PVC template, so the API server fills in the cluster's default StorageClass.
  'wal.storage.storageClassName': {
    text: 'the cluster default',
    applied: (r) => r.wal.storage.storageClassName,
    means: () => undefined,
  },
  'flusher.batchSize': { applied: (r) => r.flusher.batchSize },
  'flusher.batchBytes': { applied: (r) => r.flusher.batchBytes },
  'limits.maxPayloadSize': { applied: (r) => r.limits.maxPayloadSizeBytes },
  'limits.maxPacketSize': {
    text: '4 × maxPayloadSize',
    applied: (r) => r.limits.maxPacketSizeBytes,
    means: (r) => 4 * r.limits.maxPayloadSizeBytes,
  },
  'limits.maxJsonDepth': { applied: (r) => r.limits.maxJsonDepth },
  'flusher.flushInterval': { applied: (r) => r.flusher.flushIntervalMs },
  'flusher.flushers': { applied: (r) => r.flusher.flushers },
  'flusher.minFlushers': { applied: (r) => r.flusher.minFlushers },
  'flusher.maxFlushers': { applied: (r) => r.flusher.maxFlushers },
  'flusher.retry.initialBackoff': { applied: (r) => r.flusher.initialBackoffMs },
  'flusher.retry.maxBackoff': { applied: (r) => r.flusher.maxBackoffMs },
  'deadLetter.s3.prefix': { applied: (r) => r.deadLetter?.prefix },
  // No endpoint: the AWS SDK picks the AWS endpoint of the region.
  'deadLetter.s3.endpoint': { text: 'AWS', applied: (r) => r.deadLetter?.endpoint, means: () => undefined },
  'deadLetter.s3.region': { applied: (r) => r.deadLetter?.region },
  'deadLetter.s3.forcePathStyle': { applied: (r) => r.deadLetter?.forcePathStyle },
  'deadLetter.s3.credentialsSecretRef.accessKeyIdKey': { applied: (r) => r.deadLetter?.credentials?.accessKeyIdKey },
  'deadLetter.s3.credentialsSecretRef.secretAccessKeyKey': {
    applied: (r) => r.deadLetter?.credentials?.secretAccessKeyKey,
  },
  'autoscaling.enabled': { applied: (r) => r.autoscaling.enabled },
  'autoscaling.interval': { applied: (r) => r.autoscaling.intervalMs },
  'autoscaling.minReplicas': { text: 'replicas', applied: (r) => r.autoscaling.minReplicas, means: (r) => r.replicas },
  'autoscaling.maxReplicas': { text: 'replicas', applied: (r) => r.autoscaling.maxReplicas, means: (r) => r.replicas },
  'autoscaling.minPoolSize': {
    text: 'pgbouncer.poolSize',
    applied: (r) => r.autoscaling.minPoolSize,
    means: (r) => r.sink.pgbouncer.poolSize,
  },
  'autoscaling.maxPoolSize': {
    text: 'pgbouncer.poolSize',
    applied: (r) => r.autoscaling.maxPoolSize,
    means: (r) => r.sink.pgbouncer.poolSize,
  },
  'autoscaling.targetOldestUnflushedAge': { applied: (r) => r.autoscaling.targetOldestUnflushedAgeMs },
  'autoscaling.targetCommitLatency': { applied: (r) => r.autoscaling.targetCommitLatencyMs },
  'autoscaling.scaleUpCooldown': { applied: (r) => r.autoscaling.scaleUpCooldownMs },
  'autoscaling.scaleDownCooldown': { applied: (r) => r.autoscaling.scaleDownCooldownMs },
  'autoscaling.postgresMonitoring.host': {
    text: 'sink.postgres.host',
    applied: (r) => r.autoscaling.postgresMonitoring?.host,
    means: (r) => r.sink.postgres.host,
  },
  'autoscaling.postgresMonitoring.port': {
    text: 'sink.postgres.port',
    applied: (r) => r.autoscaling.postgresMonitoring?.port,
    means: (r) => r.sink.postgres.port,
  },
  'autoscaling.postgresMonitoring.database': {
    text: 'sink.postgres.database',
    applied: (r) => r.autoscaling.postgresMonitoring?.database,
    means: (r) => r.sink.postgres.database,
  },
  'autoscaling.postgresMonitoring.credentialsSecretRef.usernameKey': {
    applied: (r) => r.autoscaling.postgresMonitoring?.credentials.usernameKey,
  },
  'autoscaling.postgresMonitoring.credentialsSecretRef.passwordKey': {
    applied: (r) => r.autoscaling.postgresMonitoring?.credentials.passwordKey,
  },
  routes: {
    text: 'the device route',
    applied: (r) => r.routes.length === 1 && r.routes[0]?.builtIn,
    means: () => true,
  },
  'routes[].payloadFormat': { applied: (r) => r.routes[0]?.payloadFormat },
  'routes[].columns[].format': { text: 'rfc3339 for strings', appliedBy: 'worker/columns.ts' },
  'routes[].columns[].required': { applied: (r) => r.routes[0]?.columns[0]?.required },
  'routes[].partitioning.premake': { applied: (r) => r.routes[0]?.partitioning?.premake },
  replicas: { applied: (r) => r.replicas },
  // Not part of the resolved pipeline: operator/render/index.ts applies --worker-image, else DEFAULT_WORKER_IMAGE.
  image: { text: 'the image the operator runs', appliedBy: 'operator/render/index.ts' },
  // Applied where they are used; the constants are what that code applies.
  imagePullPolicy: { applied: () => DEFAULT_IMAGE_PULL_POLICY },
  terminationGracePeriodSeconds: { applied: (r) => r.terminationGracePeriodSeconds },
  logLevel: { applied: (r) => r.logLevel },
  'networkPolicy.enabled': { applied: (r) => r.networkPolicy.enabled },
  'networkPolicy.metricsFrom': {
    text: 'Prometheus pods in any namespace',
    applied: (r) => r.networkPolicy.metricsFrom,
    // The constant itself (compared by identity); operator/render/network-policy.test.ts checks what it holds.
    means: () => DEFAULT_METRICS_FROM,
  },
};

interface Documented {
  path: string;
  text: string;
  node: Schema;
  /** The nearest enclosing object with required fields: the default applies only where the spec has it. */
  within?: string;
}

/** The default a description documents, as written: `Defaults to X` or, in enums, `X (default)`. */
function documentedDefault(description: string): string | undefined {
  const quoted = /Defaults to ("[^"]*")/.exec(description);
  if (quoted) return quoted[1];
  const plain = /Defaults to (.+?)[.:,](?:\s|$)/.exec(description);
  if (plain) return plain[1];
  return /(\S+) \((?:the )?default[);]/.exec(description)?.[1];
}

function documentedDefaults(node: Schema, path = '', within?: string): Documented[] {
  const text = path ? documentedDefault(node.description ?? '') : undefined;
  const here = text === undefined ? [] : [{ path, text, node, ...(within ? { within } : {}) }];
  const inner = path && node.required?.length ? path : within;
  const children = Object.entries(node.properties ?? {}).flatMap(([k, child]) =>
    documentedDefaults(child, path ? `${path}.${k}` : k, inner),
  );
  return [...here, ...children, ...(node.items ? documentedDefaults(node.items, `${path}[]`, inner) : [])];
}

/** A literal default's value, read by the field's type and unit. */
function literal(text: string, node: Schema): unknown {
  if (text.startsWith('"')) return JSON.parse(text);
  if (node.type === 'integer') return Number(text);
  if (node.type === 'boolean') return text === 'true' ? true : text === 'false' ? false : `not a boolean: ${text}`;
  if (node.pattern === DURATION_PATTERN) return parseDurationMs(text);
  if (node.pattern === BYTES_PATTERN) return parseBytes(text);
  return text;
}

/** Does the schema accept the documented literal itself (enum, pattern, range)? */
function acceptable(text: string, node: Schema): boolean {
  const raw = text.startsWith('"') ? (JSON.parse(text) as string) : text;
  const value = node.type === 'integer' ? Number(raw) : raw;
  if (node.enum && !node.enum.includes(value as string | number)) return false;
  if (node.pattern && !new RegExp(node.pattern).test(String(raw))) return false;
  if (typeof value === 'number' && (!Number.isInteger(value) || value < (node.minimum ?? value))) return false;
  return !(typeof value === 'number' && value > (node.maximum ?? value));
}

const resolve = (name: string, spec: IngestPipelineSpec): ResolvedPipeline => {
  const p: IngestPipeline = { apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec };
  const checked = checkPipeline(p);
  if ('problem' in checked) throw new Error(`${name}: ${checked.problem.message}`);
  return checked.resolved;
};

/** Only what the schema requires, plus every optional object that has defaults, holding only its own required fields. */
const BARE: IngestPipelineSpec = {
  source: {
    brokers: ['mqtt://broker.iot:1883'],
    auth: { secretRef: { name: 'mqtt' } },
    tls: { caSecretRef: { name: 'ca' }, clientCertSecretRef: { name: 'client' } },
  },
  sink: {
    postgres: {
      host: 'pg-rw.db.svc',
      database: 'telemetry',
      credentialsSecretRef: { name: 'pg' },
      caSecretRef: { name: 'pg-ca' },
    },
  },
  deadLetter: { s3: { bucket: 'dlq', credentialsSecretRef: { name: 's3' } } },
  autoscaling: { postgresMonitoring: { credentialsSecretRef: { name: 'monitor' } } },
};

/** BARE with the fields relational defaults follow set away from their own defaults, and TLS not implied. */
const RELATED: IngestPipelineSpec = {
  ...BARE,
  source: { ...BARE.source, tls: {} },
  replicas: 3,
  wal: { sizeLimit: '2Gi' },
  sink: {
    postgres: { ...BARE.sink.postgres, host: 'pg.example.net', port: 6543, database: 'metrics' },
    pgbouncer: { poolSize: 24 },
  },
};

/** BARE with one route holding only its required fields. */
const ROUTED: IngestPipelineSpec = {
  ...BARE,
  routes: [
    {
      name: 'readings',
      topicFilter: 'site/+/reading',
      topicPattern: 'site/{site}/reading',
      table: 'readings',
      columns: [{ name: 'at', type: 'timestamptz', from: 'receivedAt' }],
      partitioning: { column: 'at', interval: '1d' },
    },
  ],
};

const PIPELINES = [
  { spec: BARE, r: resolve('fleet', BARE) },
  { spec: RELATED, r: resolve('north-fleet', RELATED) },
  { spec: ROUTED, r: resolve('routed', ROUTED) },
];

/** Whether the spec sets the field; `a[].b` looks into the first item of a. */
const setIn = (spec: IngestPipelineSpec, path: string) =>
  path.split('.').reduce<unknown>((o, k) => {
    const v = o as Record<string, unknown> | undefined;
    return k.endsWith('[]') ? (v?.[k.slice(0, -2)] as unknown[] | undefined)?.[0] : v?.[k];
  }, spec) !== undefined;

const documented = documentedDefaults(specSchema);

test('every default the schema documents has an expectation here, and every expectation a text', () => {
  assert.ok(documented.length > 50, `only ${documented.length} documented defaults found: is the parser broken?`);
  const paths = documented.map((d) => d.path);
  assert.deepEqual(
    paths.filter((p) => !(p in EXPECTED)),
    [],
    'documented in api/schema.ts without a row in EXPECTED',
  );
  assert.deepEqual(
    Object.keys(EXPECTED).filter((p) => !paths.includes(p)),
    [],
    'rows in EXPECTED whose field no longer documents a default',
  );
});

test('each documented default is the one resolvePipeline applies', () => {
  const wrong: string[] = [];
  for (const { path, text, node, within } of documented) {
    const e = EXPECTED[path];
    if (!e) continue;
    if ('text' in e && text !== e.text) {
      wrong.push(`${path}: the schema says "Defaults to ${text}", EXPECTED says "${e.text}"`);
      continue;
    }
    if (!('applied' in e)) continue;
    if (!('means' in e) && !acceptable(text, node)) wrong.push(`${path}: the documented ${text} is not a valid value`);
    const applicable = PIPELINES.filter(
      ({ spec }) =>
        !setIn(spec, path) && (!within || setIn(spec, within)) && !e.overriddenBy?.some((o) => setIn(spec, o)),
    );
    if (applicable.length === 0) wrong.push(`${path}: no pipeline here leaves it to its default`);
    for (const { r } of applicable) {
      const want = 'means' in e ? e.means(r) : literal(text, node);
      const got = e.applied(r);
      if (!Object.is(got, want))
        wrong.push(`${path} in ${r.name}: documented ${text} (${String(want)}), applied ${String(got)}`);
    }
  }
  assert.deepEqual(wrong, []);
});
