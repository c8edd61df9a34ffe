import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deadLetterKey, deadLetterLine } from './deadletter.ts';

test('a dead letter line holds everything needed to replay or debug the message', () => {
  const line = deadLetterLine('plant-7', {
    message: {
      topic: 't/acme/d/550e8400-e29b-41d4-a716-446655440000/evt/x',
      payload: Buffer.from([0, 1, 2]),
      receivedAt: Date.UTC(2026, 10, 23),
      qos: 1,
      dup: false,
      userProperties: { fw: '1.2' },
    },
    sqlstate: '22P05',
    error: 'unsupported Unicode escape sequence',
    attempts: 3,
  });
  assert.deepEqual(JSON.parse(line), {
    pipeline: 'plant-7',
    topic: 't/acme/d/550e8400-e29b-41d4-a716-446655440000/evt/x',
    payload: 'AAEC',
    qos: 1,
    userProperties: { fw: '1.2' },
    receivedAt: '2026-11-23T00:00:00.000Z',
    sqlstate: '22P05',
    error: 'unsupported Unicode escape sequence',
    attempts: 3,
  });
});

test('object keys sort by time under pipeline and date', () => {
  const k = deadLetterKey('mqtt2pg/', 'plant-7', new Date(Date.UTC(2026, 10, 23, 12, 30, 1, 5)), 'worker-0', 7);
  assert.equal(k, 'mqtt2pg/plant-7/2026-11-23/20261123T123001005Z-worker-0-7.jsonl');
});
