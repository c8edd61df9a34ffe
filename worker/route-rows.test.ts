import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePipelines } from '../api/load-pipeline.ts';
import type { InboundMessage } from './message.ts';
import { rowBuilder } from './routing.ts';

const pipeline = `
apiVersion: mqtt2pg.io/v1alpha1
kind: IngestPipeline
metadata: {name: factory}
spec:
  source: {brokers: ["mqtt://broker:1883"]}
  sink: {postgres: {host: pg, database: db, credentialsSecretRef: {name: pg}}}
  routes:
    - name: readings
      topicFilter: plant/+/line/+/machine/+/reading
      topicPattern: plant/{plant}/line/{line}/machine/{machine}/reading
      table: readings
      columns:
        - {name: plant, type: text, from: topic.plant, required: true}
        - {name: machine, type: integer, from: topic.machine}
        - {name: temperature, type: double precision, from: payload.temp}
        - {name: measured_at, type: timestamptz, from: payload.ts, format: epochMillis, required: true}
        - {name: first_tag, type: text, from: "payload.tags[0].name"}
        - {name: msg_id, type: uuid, from: property.msg-id}
        - {name: attrs, type: jsonb, from: payload.attrs}
        - {name: kind, type: text, from: contentType}
        - {name: received_at, type: timestamptz, from: receivedAt}
    - name: raw
      topicFilter: raw/#
      topicPattern: raw/{rest+}
      table: raw_frames
      payloadFormat: binary
      columns:
        - {name: path, type: text, from: topic.rest}
        - {name: frame, type: bytea, from: payload, required: true}
`;

const resolved = parsePipelines(pipeline).pipelines[0]?.resolved;
assert.ok(resolved, 'the test pipeline loads');
const build = rowBuilder(resolved.routes, 'json', resolved.limits);
const RECEIVED = Date.UTC(2026, 10, 30, 15, 0, 0);
const msg = (topic: string, payload: unknown, extra: Partial<InboundMessage> = {}): InboundMessage => ({
  topic,
  payload: Buffer.isBuffer(payload)
    ? payload
    : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
  receivedAt: RECEIVED,
  qos: 1,
  dup: false,
  ...extra,
});
const TOPIC = 'plant/p1/line/l2/machine/7/reading';
const ID = '0b6f3c2a-8d7e-4f5a-9c1b-2e3d4f5a6b7c';

test('a message becomes one COPY line, every column typed, in the route order', () => {
  const row = build(
    msg(
      TOPIC,
      { temp: 21.5, ts: 1764514945123, tags: [{ name: 'hot\tspot' }], attrs: { fw: '1.2' } },
      {
        userProperties: { 'msg-id': ID },
        contentType: 'application/json',
      },
    ),
  );
  assert.equal(row.kind, 'route');
  assert.equal(row.kind === 'route' && row.route, 'readings');
  assert.equal(
    row.kind === 'route' && row.line,
    `p1\t7\t21.5\t2025-11-30T15:02:25.123Z\thot\\tspot\t${ID}\t{"fw":"1.2"}\tapplication/json\t2026-11-30T15:00:00.000Z\n`,
  );
});

test('absent optional values are NULL; absent required ones and values of the wrong type are refused, naming the column', () => {
  const sparse = build(msg(TOPIC, { ts: 1 }));
  assert.equal(
    sparse.kind === 'route' && sparse.line,
    'p1\t7\t\\N\t1970-01-01T00:00:00.001Z\t\\N\t\\N\t\\N\t\\N\t2026-11-30T15:00:00.000Z\n',
  );
  assert.deepEqual(pick(build(msg(TOPIC, { temp: 'abc', ts: 1 }))), {
    reason: 'column_type',
    detail: 'column "temperature": "abc" is not double precision',
  });
  assert.deepEqual(pick(build(msg(TOPIC, { temp: 1, ts: null }))), {
    reason: 'column_missing',
    detail: 'column "measured_at": no value at payload.ts',
  });
  assert.deepEqual(pick(build(msg('plant/p1/line/l2/machine/seven/reading', { ts: 1 }))), {
    reason: 'column_type',
    detail: 'column "machine": "seven" is not integer',
  });
  assert.deepEqual(pick(build(msg(TOPIC, { ts: 1 }, { userProperties: { 'msg-id': ['nope', ID] } }))), {
    reason: 'column_type',
    detail: 'column "msg_id": "nope" is not a uuid',
  });
});

test('payload problems keep their reasons; a jsonb column checks its value like a payload', () => {
  assert.equal(pick(build(msg(TOPIC, '{"ts": 1'))).reason, 'invalid_json');
  assert.equal(pick(build(msg(TOPIC, Buffer.from([0xff, 0xfe])))).reason, 'invalid_utf8');
  assert.equal(pick(build(msg(TOPIC, '{"ts": 1, "attrs": "\\u0000"}'))).reason, 'json_unsupported_escape');
});

test('topics: the route is the filter that matches; no route, or a topic off the pattern, goes to unparseable', () => {
  const frame = build(msg('raw/a/b', Buffer.from([0, 1, 2])));
  assert.equal(frame.kind === 'route' && frame.line, 'a/b\t\\\\x000102\n');
  assert.deepEqual(pick(build(msg('other/x', '{}'))), {
    reason: 'no_route',
    detail: "no route's topicFilter matches (plant/+/line/+/machine/+/reading, raw/#)",
  });
});

test('without spec.routes the device contract path of rows.ts is used, unchanged', () => {
  const plain = parsePipelines(pipeline.replace(/ {2}routes:[\s\S]*$/, '')).pipelines[0]?.resolved;
  assert.ok(plain);
  const device = rowBuilder(plain.routes, 'json', plain.limits);
  const row = device(msg(`t/acme/d/${ID}/evt/temp`, { v: 1 }));
  assert.equal(row.kind, 'telemetry');
});

function pick(row: ReturnType<typeof build>) {
  assert.equal(row.kind, 'unparseable', JSON.stringify(row));
  return row.kind === 'unparseable' ? { reason: row.reason, detail: row.detail } : { reason: '', detail: '' };
}
