import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeMessage, messageId } from './loadgen.ts';
import { parseTopic } from './topic.ts';

const o = { runId: 'r1', devices: 3, tenants: 2, payloadBytes: 200, malformedRatio: 0, pathPrefix: 'bench' };
const devices = [
  '550e8400-e29b-41d4-a716-446655440000',
  '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
  '6ba7b811-9dad-11d1-80b4-00c04fd430c8',
];

test('every message is a contract message of the requested size with a unique id', () => {
  const ids = new Set<string>();
  for (let n = 0; n < 100; n++) {
    const m = makeMessage(o, n, devices);
    assert.equal(parseTopic(m.topic).ok, true);
    assert.equal(m.payload.length, 200);
    const body = JSON.parse(m.payload);
    assert.equal(body.id, messageId('r1', n));
    ids.add(body.id);
  }
  assert.equal(ids.size, 100);
});

test('malformed messages break the contract in each way and still carry their id', () => {
  const reasons = new Set<string>();
  for (let n = 0; n < 8; n++) {
    const m = makeMessage({ ...o, malformedRatio: 1 }, n, devices, () => 0);
    assert.ok(m.malformed);
    reasons.add(m.malformed);
    assert.ok(m.payload.includes(messageId('r1', n)));
    if (m.malformed !== 'invalid_json') assert.equal(parseTopic(m.topic).ok, false);
    else assert.throws(() => JSON.parse(m.payload));
  }
  assert.deepEqual([...reasons].sort(), ['bad_device_id', 'bad_tenant', 'invalid_json', 'topic_too_long']);
});
