import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { loadPipelineFile, parsePipelines } from './load-pipeline.ts';

const minimal = `
apiVersion: mqtt2pg.io/v1alpha1
kind: IngestPipeline
metadata: {name: plant-7, namespace: iot}
spec:
  source: {brokers: ["mqtt://broker:1883"]}
  sink:
    postgres: {host: pg, database: telemetry, credentialsSecretRef: {name: pg-credentials}}
`;

const withSpec = (extra: string) => `${minimal}${extra}`;
const problemsOf = (text: string) => parsePipelines(text).problems.map((p) => `${p.path}: ${p.message}`);

test('every example in manifests/examples is a valid pipeline', () => {
  const dir = new URL('../manifests/examples/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && !f.startsWith('argocd'));
  assert.ok(files.length >= 2, 'examples exist');
  for (const f of files) {
    const r = loadPipelineFile(new URL(f, dir).pathname);
    assert.deepEqual(r.problems, [], f);
    assert.ok(r.pipelines.length >= 1, `${f} holds a pipeline`);
  }
});

test('a minimal pipeline gets every default, in code', () => {
  const r = parsePipelines(minimal);
  assert.deepEqual(r.problems, []);
  const p = r.pipelines[0]?.resolved;
  assert.ok(p);
  assert.equal(p.source.subscription, '$share/plant-7/t/+/d/+/evt/#');
  assert.equal(p.source.qos, 1);
  assert.equal(p.source.protocolVersion, 5);
  assert.equal(p.sink.postgres.port, 5432);
  assert.equal(p.sink.schema, 'public');
  assert.equal(p.sink.table, 'telemetry');
  assert.equal(p.sink.unparseableTable, 'telemetry_unparseable');
  assert.equal(p.sink.pgbouncer.enabled, true);
  assert.equal(p.wal.sizeLimitBytes, 2 ** 30);
  assert.equal(p.wal.storage.type, 'Persistent');
  assert.equal(p.flusher.flushIntervalMs, 100);
  assert.equal(p.flusher.flushers, 2);
  assert.equal(p.autoscaling.enabled, false);
  assert.equal(p.deadLetter, undefined);
  // The user's object is untouched: defaults never flow back into what the API server stores.
  assert.equal(r.pipelines[0]?.pipeline.spec.flusher, undefined);
});

test('several documents: pipelines are loaded, other kinds skipped, problems numbered by document', () => {
  const text = `${minimal}---\napiVersion: v1\nkind: Secret\nmetadata: {name: pg-credentials}\n---\n${minimal.replace('plant-7', 'Plant_8')}`;
  const r = parsePipelines(text);
  assert.equal(r.pipelines.length, 1);
  assert.deepEqual(r.skipped, [{ document: 2, kind: 'Secret' }]);
  assert.equal(r.problems.length, 1);
  assert.equal(r.problems[0]?.document, 3);
  assert.equal(r.problems[0]?.path, 'metadata.name');
});

test('all problems are reported at once, each with its field path and what is allowed', () => {
  const problems = problemsOf(`
apiVersion: mqtt2pg.io/v1alpha1
kind: IngestPipeline
metadata: {name: p}
spec:
  source: {brokers: [], qos: 2, protocolVersion: 3}
  sink:
    postgres: {host: pg, credentialsSecretRef: {name: pg}}
    table: "Telemetry;drop table x"
    payloadFormat: xml
  wal: {sizeLimit: 1GB, retention: 7d}
  flusher: {batchSize: 0}
  replicas: "3"
`);
  const expected = [
    'spec.source.brokers: needs at least 1 item',
    'spec.source.qos: must be one of 0, 1 (got 2)',
    'spec.source.protocolVersion: must be one of 4, 5 (got 3)',
    'spec.sink.postgres.database: is required (Name of the database that holds the tables.)',
    'spec.sink.table: must be a lower-case SQL identifier',
    'spec.sink.payloadFormat: must be one of "json", "binary" (got "xml")',
    'spec.wal.sizeLimit: must be a byte quantity',
    'spec.wal.retention: must be a duration',
    'spec.flusher.batchSize: must be at least 1 (got 0)',
    'spec.replicas: must be an integer (got "3")',
  ];
  for (const e of expected)
    assert.ok(
      problems.some((p) => p.startsWith(e)),
      `missing "${e}" in:\n${problems.join('\n')}`,
    );
  assert.equal(problems.length, expected.length, problems.join('\n'));
});

test('unknown fields are errors that list the allowed fields', () => {
  const problems = problemsOf(withSpec('  colour: blue\n'));
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? '', /^spec\.colour: unknown field; the fields allowed here are: source, sink, wal/);
});

test('plain-text credentials are rejected with a pointer to the Secret reference', () => {
  const cases: Array<[string, RegExp]> = [
    [
      minimal.replace('{brokers: ["mqtt://broker:1883"]}', '{brokers: ["mqtt://broker:1883"], password: hunter2}'),
      /^spec\.source\.password: plain-text credentials .* source\.auth\.secretRef/,
    ],
    [
      minimal.replace('database: telemetry,', 'database: telemetry, password: hunter2,'),
      /^spec\.sink\.postgres\.password: plain-text credentials .* sink\.postgres\.credentialsSecretRef/,
    ],
    [
      minimal.replace('mqtt://broker:1883', 'mqtt://ingest:hunter2@broker:1883'),
      /^spec\.source\.brokers: broker URLs must not carry credentials.*source\.auth\.secretRef/,
    ],
    [
      withSpec('  deadLetter:\n    s3: {bucket: dlq, secretAccessKey: abc}\n'),
      /^spec\.deadLetter\.s3\.secretAccessKey: plain-text credentials .* deadLetter\.s3\.credentialsSecretRef/,
    ],
  ];
  for (const [text, re] of cases) {
    const problems = problemsOf(text);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0] ?? '', re);
  }
});

test('cross-field rules (the CEL rules of the CRD) are checked before the API server sees the object', () => {
  assert.deepEqual(problemsOf(withSpec('  flusher: {minFlushers: 5, maxFlushers: 2}\n')), [
    'spec.flusher: flusher.minFlushers must not exceed flusher.maxFlushers',
  ]);
  assert.deepEqual(problemsOf(withSpec('  autoscaling: {minReplicas: 3, maxReplicas: 2}\n')), [
    'spec.autoscaling: autoscaling.minReplicas must not exceed autoscaling.maxReplicas',
  ]);
  assert.match(
    problemsOf(
      minimal.replace('{brokers: ["mqtt://broker:1883"]}', '{brokers: ["mqtt://b:1883"], topicFilter: "$share/g/t/#"}'),
    )[0] ?? '',
    /^spec\.source\.topicFilter: give the shared-subscription group in source\.sharedGroup/,
  );
  const bouncerTls = (sslMode: string) =>
    problemsOf(
      minimal.replace(
        'credentialsSecretRef: {name: pg-credentials}}',
        `credentialsSecretRef: {name: pg-credentials}, sslMode: ${sslMode}}\n    pgbouncer: {clientTlsSecretRef: {name: pgbouncer-tls}}`,
      ),
    );
  assert.deepEqual(bouncerTls('disable'), [
    'spec.sink: sink.pgbouncer.clientTlsSecretRef needs sink.postgres.sslMode require, verify-ca or verify-full: the workers connect to PgBouncer with that mode',
  ]);
  assert.deepEqual(bouncerTls('verify-full'), []);
});

test('bounds that depend on defaults are checked after defaults are applied', () => {
  assert.deepEqual(problemsOf(withSpec('  flusher: {flushers: 12}\n')), [
    'spec.flusher.flushers: must lie within flusher.minFlushers..maxFlushers (1..8); got 12',
  ]);
  assert.deepEqual(problemsOf(withSpec('  wal: {sizeLimit: 4Gi, storage: {size: 1Gi}}\n')).length, 1);
  assert.deepEqual(problemsOf(withSpec('  limits: {maxPayloadSize: 1Mi, maxPacketSize: 512Ki}\n')), [
    'spec.limits.maxPacketSize: must exceed limits.maxPayloadSize (1Mi): a packet holds the topic and properties besides the payload',
  ]);
  assert.match(problemsOf(withSpec('  limits: {maxPayloadSize: 100Mi}\n'))[0] ?? '', /at most 268435455 bytes/);
  assert.deepEqual(problemsOf(withSpec('  limits: {maxPayloadSize: 1Mi}\n')), [], 'the default packet cap follows');
});

test('the default WAL volume leaves LevelDB room beside the records: half the limit, at least 64 MiB', () => {
  const volume = (sizeLimit: string) =>
    parsePipelines(withSpec(`  wal: {sizeLimit: ${sizeLimit}}\n`)).pipelines[0]?.resolved.wal.storage.sizeBytes;
  assert.equal(volume('4Gi'), 6 * 2 ** 30);
  assert.equal(volume('32Mi'), 96 * 2 ** 20);
});

test('YAML syntax errors name the line', () => {
  const problems = problemsOf('spec:\n  source: [unclosed\n');
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? '', /not valid YAML at line \d+, column \d+/);
});

test('a file that cannot be read says why', () => {
  const r = loadPipelineFile('/nonexistent/pipeline.yaml');
  assert.match(r.problems[0]?.message ?? '', /cannot read \/nonexistent\/pipeline\.yaml: no such file/);
});

test('pipeline names the operator cannot derive object names from are refused', () => {
  const long = `p${'x'.repeat(45)}`;
  assert.deepEqual(problemsOf(minimal.replace('plant-7', long)), [
    "metadata.name: metadata.name must be at most 45 characters of lower-case letters, digits and '-', starting with a letter: the operator derives Service and pod names from it",
  ]);
  assert.equal(problemsOf(minimal.replace('plant-7', 'plant.7')).length, 1);
  assert.deepEqual(problemsOf(minimal.replace('mqtt://broker:1883"]', 'mqtt://broker:1883"], brokers2: 1')).length, 1);
});

test('rule checks survive values of the wrong type (the type error is reported instead)', () => {
  const problems = problemsOf(minimal.replace('{brokers: ["mqtt://broker:1883"]}', '{brokers: "mqtt://broker:1883"}'));
  assert.deepEqual(problems, ['spec.source.brokers: must be an array (got "mqtt://broker:1883")']);
});
