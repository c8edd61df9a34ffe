import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { InboundMessage } from './message.ts';
import { claimKey, decodeSpill, encodeSpill, spillFolder, spillKey } from './spill-format.ts';

const messages: InboundMessage[] = [
  { topic: 't/a/d/x/evt/é', payload: Buffer.from([0, 1, 2, 255]), receivedAt: 1763900000123.5, qos: 1, dup: false },
  { topic: 'x', payload: Buffer.alloc(0), receivedAt: 1, qos: 0, dup: true, userProperties: { k: 'v', m: ['1', '2'] } },
  { topic: 't/'.repeat(300), payload: Buffer.alloc(70_000, 7), receivedAt: 2, qos: 1, dup: true },
];

test('a spill object keeps every message exactly: topic, payload bytes, flags, user properties, receive time', async () => {
  const body = await encodeSpill({ instance: 'fleet-worker-7d9f-abcde', messages });
  assert.ok(body.length < 2000, `${body.length} bytes: compressed`);
  assert.deepEqual(await decodeSpill(body), { instance: 'fleet-worker-7d9f-abcde', messages });
  assert.deepEqual(await decodeSpill(await encodeSpill({ instance: '', messages: [] })), {
    instance: '',
    messages: [],
  });
});

test('a damaged, foreign or newer spill object is refused with what is wrong, never half read', async () => {
  const body = await encodeSpill({ instance: 'w', messages });
  const flipped = Buffer.from(body);
  const at = Math.floor(flipped.length / 2);
  flipped[at] = (flipped[at] as number) ^ 0xff;
  await assert.rejects(decodeSpill(flipped), /not an intact spill object/);
  await assert.rejects(decodeSpill(body.subarray(0, body.length - 4)), /not an intact spill object/);
  await assert.rejects(decodeSpill(gzipSync('{"topic":"x"}\n')), /no MQ2PSPIL header/);
  const raw = gunzipSync(body);
  raw[8] = 9;
  await assert.rejects(decodeSpill(gzipSync(raw)), /version 9 is not supported by this worker \(expects 1\)/);
  const lying = gunzipSync(body);
  lying.writeUInt32BE(4, 9);
  await assert.rejects(decodeSpill(gzipSync(lying)), /holds 3 messages, its header says 4/);
});

test('spill keys sort by time, name the worker, and sit apart from dead letters and their own claims', () => {
  const now = new Date('2026-11-30T12:34:56.789Z');
  const key = spillKey('mqtt2pg/', 'fleet', 'fleet-worker-7d9f/x', now, 3);
  assert.equal(key, 'mqtt2pg/_spill/fleet/20261130T123456789Z-fleet-worker-7d9f-x-3.bin.gz');
  assert.ok(key.startsWith(spillFolder('mqtt2pg/', 'fleet')));
  // "_" cannot start a pipeline name, so no pipeline's dead letters (<prefix><pipeline>/) share the folder.
  assert.equal(claimKey(key), 'mqtt2pg/_spill/fleet/claims/20261130T123456789Z-fleet-worker-7d9f-x-3.bin.gz');
  assert.ok(spillKey('p/', 'f', 'w', new Date(now.getTime() + 1), 0) > spillKey('p/', 'f', 'w', now, 9));
});
