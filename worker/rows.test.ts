import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InboundMessage } from './message.ts';
import {
  copyText,
  type TelemetryRow,
  telemetryCopyText,
  toRow,
  type UnparseableRow,
  unparseableCopyText,
} from './rows.ts';

const dev = '550e8400-e29b-41d4-a716-446655440000';
const msg = (topic: string, payload: string | Buffer): InboundMessage => ({
  topic,
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  receivedAt: Date.UTC(2026, 10, 23, 12, 0, 0, 5),
  qos: 1,
  dup: false,
});

test('a contract message with a JSON payload becomes a telemetry row', () => {
  const r = toRow(msg(`t/acme/d/${dev}/evt/temp`, '{"v":21.5}'), 'json');
  assert.equal(r.kind, 'telemetry');
  assert.equal((r as TelemetryRow).json, '{"v":21.5}');
});

test('payloads that break the JSON contract become unparseable rows with a reason', () => {
  const notJson = toRow(msg(`t/acme/d/${dev}/evt/temp`, 'hello'), 'json') as UnparseableRow;
  assert.equal(notJson.reason, 'invalid_json');
  const empty = toRow(msg(`t/acme/d/${dev}/evt/temp`, ''), 'json') as UnparseableRow;
  assert.equal(empty.reason, 'invalid_json');
  const badUtf8 = toRow(msg(`t/acme/d/${dev}/evt/temp`, Buffer.from([0x7b, 0xff, 0x7d])), 'json') as UnparseableRow;
  assert.equal(badUtf8.reason, 'invalid_utf8');
  const badTopic = toRow(msg('t/acme/d/nope/evt/temp', '{}'), 'json') as UnparseableRow;
  assert.equal(badTopic.reason, 'bad_device_id');
});

test('binary pipelines accept any payload on a contract topic', () => {
  assert.equal(toRow(msg(`t/acme/d/${dev}/evt/raw`, Buffer.from([0, 1, 255])), 'binary').kind, 'telemetry');
});

test('COPY text escapes backslashes, tabs and newlines', () => {
  assert.equal(copyText('a\\b\tc\nd\re'), 'a\\\\b\\tc\\nd\\re');
  assert.equal(copyText('plain'), 'plain');
});

test('telemetry COPY lines hold the columns in order, JSON escaped once', () => {
  const row = toRow(msg(`t/acme/d/${dev}/evt/a/b`, '{"s":"x\\ny"}'), 'json') as TelemetryRow;
  assert.equal(telemetryCopyText([row]), `acme\t${dev}\ta/b\t{"s":"x\\\\ny"}\t2026-11-23T12:00:00.005Z\n`);
  const bin = toRow(msg(`t/acme/d/${dev}/evt/raw`, Buffer.from([0, 255])), 'binary') as TelemetryRow;
  assert.equal(telemetryCopyText([bin]), `acme\t${dev}\traw\t\\\\x00ff\t2026-11-23T12:00:00.005Z\n`);
});

test('unparseable COPY lines keep the original topic and payload bytes', () => {
  const row = toRow(msg('bad\ttopic\u0000', 'x'), 'json') as UnparseableRow;
  const line = unparseableCopyText([row]);
  assert.equal(line.split('\t')[0], 'bad\\ttopic\uFFFD');
  assert.equal(line.split('\t')[1], '\\\\x78');
  assert.equal(line.split('\t')[2], 'topic_shape');
});
