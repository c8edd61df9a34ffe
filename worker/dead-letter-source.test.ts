import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDeadLetters, parseS3Url } from './dead-letter-source.ts';
import { deadLetterLine } from './deadletter.ts';

test('a dead letter read back is the message the worker received', () => {
  const message = {
    topic: 'plant/p1/line/2/machine/m7/reading',
    payload: Buffer.from('{"temp":1e999999}'),
    receivedAt: Date.parse('2026-11-30T13:00:00.123Z'),
    qos: 1 as const,
    dup: true,
    userProperties: { 'msg-id': 'a1' },
    contentType: 'application/json',
  };
  const line = deadLetterLine('fleet', { message, sqlstate: '22003', error: 'out of range', attempts: 3 });
  const o = parseDeadLetters('k.jsonl', `${line}\n\nnot json\n${line}\n`);
  assert.deepEqual(o.messages, [
    { ...message, dup: false },
    { ...message, dup: false },
  ]);
  assert.deepEqual(o.attempts, [3, 3]);
  assert.equal(o.badLines.length, 1);
  assert.equal(o.badLines[0]?.line, 3);
});

test('s3 URLs: bucket and prefix, or what to write', () => {
  assert.deepEqual(parseS3Url('s3://dlq/mqtt2pg/fleet/'), { bucket: 'dlq', prefix: 'mqtt2pg/fleet/' });
  assert.deepEqual(parseS3Url('s3://dlq'), { bucket: 'dlq', prefix: '' });
  assert.throws(() => parseS3Url('dlq/x'), /write it like s3:\/\/BUCKET\/PREFIX/);
});
