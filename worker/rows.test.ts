import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InboundMessage } from './message.ts';
import {
  copyChunks,
  copyText,
  type TelemetryRow,
  telemetryLine,
  toRow,
  type UnparseableRow,
  unparseableLine,
} from './rows.ts';

const limits = { maxPayloadSizeBytes: 1024, maxJsonDepth: 4 };
const dev = '550e8400-e29b-41d4-a716-446655440000';
const msg = (topic: string, payload: string | Buffer): InboundMessage => ({
  topic,
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  receivedAt: Date.UTC(2026, 10, 23, 12, 0, 0, 5),
  qos: 1,
  dup: false,
});

test('a contract message with a JSON payload becomes a telemetry row', () => {
  const r = toRow(msg(`t/acme/d/${dev}/evt/temp`, '{"v":21.5}'), 'json', limits);
  assert.equal(r.kind, 'telemetry');
  assert.equal((r as TelemetryRow).json, '{"v":21.5}');
});

test('payloads that break the JSON contract become unparseable rows with a reason', () => {
  const notJson = toRow(msg(`t/acme/d/${dev}/evt/temp`, 'hello'), 'json', limits) as UnparseableRow;
  assert.equal(notJson.reason, 'invalid_json');
  const empty = toRow(msg(`t/acme/d/${dev}/evt/temp`, ''), 'json', limits) as UnparseableRow;
  assert.equal(empty.reason, 'invalid_json');
  const badUtf8 = toRow(
    msg(`t/acme/d/${dev}/evt/temp`, Buffer.from([0x7b, 0xff, 0x7d])),
    'json',
    limits,
  ) as UnparseableRow;
  assert.equal(badUtf8.reason, 'invalid_utf8');
  const badTopic = toRow(msg('t/acme/d/nope/evt/temp', '{}'), 'json', limits) as UnparseableRow;
  assert.equal(badTopic.reason, 'bad_device_id');
});

test('binary pipelines accept any payload on a contract topic', () => {
  assert.equal(toRow(msg(`t/acme/d/${dev}/evt/raw`, Buffer.from([0, 1, 255])), 'binary', limits).kind, 'telemetry');
});

test('COPY text escapes backslashes, tabs and newlines', () => {
  assert.equal(copyText('a\\b\tc\nd\re'), 'a\\\\b\\tc\\nd\\re');
  assert.equal(copyText('plain'), 'plain');
});

test('telemetry COPY lines hold the columns in order, JSON escaped once', () => {
  const row = toRow(msg(`t/acme/d/${dev}/evt/a/b`, '{"s":"x\\ny"}'), 'json', limits) as TelemetryRow;
  assert.equal(telemetryLine(row), `acme\t${dev}\ta/b\t{"s":"x\\\\ny"}\t2026-11-23T12:00:00.005Z\n`);
  const bin = toRow(msg(`t/acme/d/${dev}/evt/raw`, Buffer.from([0, 255])), 'binary', limits) as TelemetryRow;
  assert.equal(telemetryLine(bin), `acme\t${dev}\traw\t\\\\x00ff\t2026-11-23T12:00:00.005Z\n`);
});

test('unparseable COPY lines keep the original topic and payload bytes', () => {
  const row = toRow(msg('bad\ttopic\u0000', 'x'), 'json', limits) as UnparseableRow;
  const line = unparseableLine(row);
  assert.equal(line.split('\t')[0], 'bad\\ttopic\uFFFD');
  assert.equal(line.split('\t')[1], '\\\\x78');
  assert.equal(line.split('\t')[2], 'topic_shape');
});

test('spec.limits are checked before COPY: oversize (any format), too deep, escapes jsonb refuses', () => {
  const topic = `t/acme/d/${dev}/evt/x`;
  const big = toRow(msg(topic, Buffer.alloc(1025)), 'binary', limits) as UnparseableRow;
  assert.equal(big.reason, 'payload_too_large');
  assert.equal(big.detail, 'payload is 1025 bytes, over spec.limits.maxPayloadSize 1Ki');
  assert.equal((toRow(msg(topic, '[[[[[1]]]]]'), 'json', limits) as UnparseableRow).reason, 'json_too_deep');
  assert.equal(
    (toRow(msg(topic, '{"s":"\\u0000"}'), 'json', limits) as UnparseableRow).reason,
    'json_unsupported_escape',
  );
  assert.equal(toRow(msg(topic, '[[[[1]]]]'), 'json', limits).kind, 'telemetry');
  assert.equal(toRow(msg(topic, '"\\u0000[[[[[["'), 'binary', limits).kind, 'telemetry', 'binary stores any bytes');
});

test('COPY text comes in chunks of bounded size, never one string of the whole batch', () => {
  const rows = Array.from(
    { length: 100 },
    (_, i) => toRow(msg(`t/acme/d/${dev}/evt/x`, Buffer.alloc(100, i)), 'binary', limits) as TelemetryRow,
  );
  const chunks = [...copyChunks(rows, telemetryLine, 1000)];
  assert.equal(chunks.join(''), rows.map(telemetryLine).join(''), 'the same text');
  const lineLength = telemetryLine(rows[0] as TelemetryRow).length;
  assert.ok(chunks.length > 10, `${chunks.length} chunks`);
  for (const c of chunks) assert.ok(c.length < 1000 + lineLength, 'a chunk passes the size by less than a line');
  assert.deepEqual([...copyChunks([], telemetryLine)], [], 'nothing for no rows');
});
