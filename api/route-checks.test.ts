import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePipelines } from './load-pipeline.ts';
import { filtersOverlap } from './topic-syntax.ts';

const pipeline = (routes: string, source = '{brokers: ["mqtt://broker:1883"]}') => `
apiVersion: mqtt2pg.io/v1alpha1
kind: IngestPipeline
metadata: {name: factory}
spec:
  source: ${source}
  sink:
    postgres: {host: pg, database: telemetry, credentialsSecretRef: {name: pg}}
  routes:
${routes}`;

const readings = (extra = '', columns = '') => `
    - name: readings
      topicFilter: plant/+/machine/+/reading
      topicPattern: plant/{plant}/machine/{machine}/reading
      table: readings
      columns:
        - {name: machine, type: text, from: topic.machine}
        - {name: measured_at, type: timestamptz, from: payload.ts, format: epochMillis, required: true}
${columns}${extra}`;

const problemsOf = (text: string) => parsePipelines(text).problems.map((p) => `${p.path}: ${p.message}`);

test('a route pipeline resolves: subscriptions per route, defaults applied', () => {
  const r = parsePipelines(pipeline(readings('      dedup: {key: [machine, measured_at]}\n')));
  assert.deepEqual(r.problems, []);
  const route = r.pipelines[0]?.resolved.routes[0];
  assert.equal(route?.subscription, '$share/factory/plant/+/machine/+/reading');
  assert.equal(route?.payloadFormat, 'json');
  assert.equal(route?.builtIn, false);
  assert.equal(route?.columns[0]?.required, false);
});

test('without routes the pipeline has the built-in device route into sink.table', () => {
  const r = parsePipelines(pipeline('').replace('  routes:\n', '').replace('database: telemetry,', 'database: db,'));
  const routes = r.pipelines[0]?.resolved.routes;
  assert.equal(routes?.length, 1);
  assert.equal(routes?.[0]?.builtIn, true);
  assert.equal(routes?.[0]?.table, 'telemetry');
  assert.equal(routes?.[0]?.topicPattern, 't/{tenant}/d/{device_id:uuid}/evt/{path+}');
  assert.deepEqual(
    routes?.[0]?.columns.map((c) => `${c.name} ${c.type}`),
    ['tenant text', 'device_id uuid', 'path text', 'payload jsonb', 'received_at timestamptz'],
  );
});

test('dedup and partitioning rules: key columns exist, partition column is timestamptz and in the key', () => {
  assert.deepEqual(problemsOf(pipeline(readings('      dedup: {key: [serial]}\n'))), [
    'spec.routes[0]: dedup.key must name columns of this route; add the column, or remove it from the key',
  ]);
  assert.deepEqual(
    problemsOf(
      pipeline(readings('      dedup: {key: [machine]}\n      partitioning: {column: measured_at, interval: 1d}\n')),
    ),
    [
      'spec.routes[0]: on a partitioned route, dedup.key must include partitioning.column: PostgreSQL requires every unique key of a partitioned table to contain the partition column',
    ],
  );
  assert.deepEqual(problemsOf(pipeline(readings('      partitioning: {column: machine, interval: 1d}\n'))), [
    'spec.routes[0]: partitioning.column must name a timestamptz column of this route',
  ]);
});

test('column and pattern mistakes name the field and the fix', () => {
  const text = pipeline(
    readings(
      '',
      '        - {name: line, type: text, from: topic.line}\n        - {name: id, type: text, from: topic}\n',
    ),
  );
  assert.deepEqual(problemsOf(text), [
    'spec.routes[0].columns[2].from: topicPattern "plant/{plant}/machine/{machine}/reading" has no capture {line} (it has {plant}, {machine}); add it to the pattern or take another source',
    'spec.routes[0].columns[3].name: "id" is a column every route table has (id, ingested_at); name this one differently',
  ]);
  const text2 = pipeline(readings('', '        - {name: v, type: integer, from: payload.v, format: epochMillis}\n'));
  assert.deepEqual(problemsOf(text2), [
    'spec.routes[0].columns[2]: format applies only to timestamptz and date columns; remove it or change the type',
  ]);
  const text3 = pipeline(readings('      payloadFormat: text\n'));
  assert.match(problemsOf(text3)[0] ?? '', /payload.<path> columns read JSON: set payloadFormat to json/);
  const text4 = pipeline(readings().replace('topicPattern: plant/', 'topicPattern: site/'));
  assert.match(
    problemsOf(text4)[0] ?? '',
    /no topic that topicFilter "plant\/\+\/machine\/\+\/reading" brings can fit/,
  );
});

test('routes: overlapping filters, shared tables and source.topicFilter are refused', () => {
  const second = readings().replace('name: readings', 'name: all').replace('plant/+/machine/+/reading', 'plant/#');
  assert.deepEqual(problemsOf(pipeline(`${readings()}${second}`, '{brokers: ["mqtt://b:1883"], topicFilter: "x/#"}')), [
    'spec.source.topicFilter: is not used with spec.routes (each route subscribes to its own topicFilter); remove it',
    'spec.routes[1].table: table "readings" is already written by route "readings"; give each route its own table (or widen one route\'s filter and pattern)',
    `spec.routes[1].topicFilter: "plant/#" and route "readings"'s "plant/+/machine/+/reading" can both match one topic, which the broker would then deliver once per subscription; make the filters disjoint (e.g. a distinct literal level)`,
  ]);
});

test('filter overlap follows MQTT matching (# covers its parent level)', () => {
  assert.equal(filtersOverlap('a/+/c', 'a/b/#'), true);
  assert.equal(filtersOverlap('a/#', 'a'), true);
  assert.equal(filtersOverlap('a/b', 'a/b/c'), false);
  assert.equal(filtersOverlap('a/+/c', 'a/b/d'), false);
  assert.equal(filtersOverlap('+/x', 'y/+'), true);
});
