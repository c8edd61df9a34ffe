// The reader against mqtt-packet's own parser: the same packets, in the same order, for random streams of
// PUBLISH (MQTT 3.1.1 and 5, every PUBLISH property, repeated user properties) mixed with other packets, cut
// into chunks at random places; and for the same streams with bytes damaged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { MqttReader } from './mqtt-reader.ts';

/** A deterministic generator, so a failure names a seed that reproduces it. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const pick = <T>(r: () => number, xs: readonly T[]) => xs[Math.floor(r() * xs.length)] as T;
const text = (r: () => number, max: number) =>
  Array.from({ length: Math.floor(r() * max) }, () => pick(r, ['a', 'b', '/', 'é', '€', '😀', ' ', '0'])).join('');

function randomPublish(r: () => number, v: 4 | 5): Packet {
  const qos = pick(r, [0, 1, 1, 1] as const);
  const p: Record<string, unknown> = {
    cmd: 'publish',
    topic: `t/${text(r, 30)}`,
    payload: Buffer.from(text(r, r() < 0.05 ? 3000 : 120)),
    qos,
    dup: qos > 0 && r() < 0.2,
    retain: r() < 0.2,
  };
  if (qos > 0) p.messageId = 1 + Math.floor(r() * 65535);
  if (v === 5 && r() < 0.7) {
    const props: Record<string, unknown> = {};
    if (r() < 0.3) props.payloadFormatIndicator = r() < 0.5;
    if (r() < 0.3) props.messageExpiryInterval = Math.floor(r() * 2 ** 32);
    if (r() < 0.4) props.contentType = text(r, 20);
    if (r() < 0.2) props.responseTopic = text(r, 20);
    if (r() < 0.2) props.correlationData = Buffer.from(text(r, 10));
    if (r() < 0.3) props.subscriptionIdentifier = r() < 0.5 ? 1 + Math.floor(r() * 1e6) : [1, 200, 300000];
    if (r() < 0.1) props.topicAlias = 1 + Math.floor(r() * 100);
    if (r() < 0.5) {
      const up: Record<string, string | string[]> = {};
      // Repeated names with non-empty values: mqtt-packet drops an empty first value (tested below).
      const value = () => `v${text(r, 6)}`;
      for (let i = Math.floor(r() * 4); i >= 0; i--) up[text(r, 8)] = r() < 0.3 ? [value(), value()] : text(r, 6);
      props.userProperties = up;
    }
    p.properties = props;
  }
  return p as unknown as Packet;
}

function randomOther(r: () => number, v: 4 | 5): Packet {
  return pick(r, [
    { cmd: 'pingresp' },
    { cmd: 'suback', messageId: 7, granted: [1] },
    { cmd: 'connack', sessionPresent: r() < 0.5, returnCode: 0, reasonCode: 0 },
    { cmd: 'puback', messageId: 9 },
    ...(v === 5 ? [{ cmd: 'disconnect', reasonCode: 0 }] : []),
  ]) as Packet;
}

function stream(seed: number, v: 4 | 5, n: number): Buffer {
  const r = rng(seed);
  const packets = Array.from({ length: n }, () => (r() < 0.9 ? randomPublish(r, v) : randomOther(r, v)));
  return Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: v })));
}

/**
 * What a parser emits for `bytes` fed in `chunks`: packets as plain data, up to and including the first error
 * (the worker closes the connection on it; mqtt-packet alone starts afresh at the next chunk).
 */
function run(bytes: Buffer, cuts: number[], v: 4 | 5, withReader: boolean, o: { pending?: number[] } = {}): unknown[] {
  const out: unknown[] = [];
  const parser = mqttPacket.parser({ protocolVersion: v });
  const plain = (p: Packet) => JSON.parse(JSON.stringify({ ...p }));
  parser.on('packet', (p: Packet) => out.push(plain(p)));
  parser.on('error', (e: Error) => out.push(`error: ${e.message}`));
  const reader = new MqttReader(parser, v, (p) => out.push(plain(p as Packet)));
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    const chunk = Buffer.from(bytes.subarray(from, to)); // a copy, as a socket read is
    if (withReader) reader.parse(chunk);
    else parser.parse(chunk);
    from = to;
  }
  o.pending?.push(reader.pendingBytes);
  const error = out.findIndex((p) => typeof p === 'string');
  return error < 0 ? out : out.slice(0, error + 1);
}

function randomCuts(r: () => number, length: number): number[] {
  const n = Math.floor(r() * 12);
  return Array.from({ length: n }, () => Math.floor(r() * length)).sort((a, b) => a - b);
}

for (const v of [4, 5] as const) {
  test(`MQTT ${v === 5 ? '5' : '3.1.1'}: the reader emits what mqtt-packet emits, over 300 random streams cut anywhere`, () => {
    let publishes = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const bytes = stream(seed, v, 40);
      const r = rng(seed * 7);
      const cuts = randomCuts(r, bytes.length);
      const expected = run(bytes, [], v, false);
      assert.deepEqual(run(bytes, cuts, v, true), expected, `seed ${seed}, cuts ${cuts}`);
      publishes += expected.filter((p) => (p as { cmd?: string }).cmd === 'publish').length;
    }
    assert.ok(publishes > 10_000, `only ${publishes} PUBLISH packets were compared`);
  });

  test(`MQTT ${v === 5 ? '5' : '3.1.1'}: damaged streams give the same packets and errors as mqtt-packet alone`, () => {
    let errors = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const bytes = stream(seed, v, 6);
      const r = rng(seed * 13);
      for (let i = 1 + Math.floor(r() * 3); i > 0; i--) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      const expected = run(bytes, [], v, false);
      const pending: number[] = [];
      const actual = run(bytes, randomCuts(r, bytes.length), v, true, { pending });
      // The one difference: a bad header of a packet whose bytes never all arrived is reported by mqtt-packet
      // at once, by the reader when the rest arrives.
      const early = pending[0] !== 0 && typeof expected.at(-1) === 'string' && actual.length === expected.length - 1;
      assert.deepEqual(actual, early ? expected.slice(0, -1) : expected, `seed ${seed}`);
      errors += expected.filter((p) => typeof p === 'string').length;
    }
    assert.ok(errors > 5, `only ${errors} damaged streams made mqtt-packet fail`);
  });
}

test('a repeated user property keeps an empty first value (mqtt-packet 9.0.2 keeps only the last)', () => {
  const bytes = mqttPacket.generate(
    {
      cmd: 'publish',
      topic: 't/a',
      payload: Buffer.from('x'),
      qos: 0,
      dup: false,
      retain: false,
      properties: { userProperties: { k: ['', 'second'] } },
    },
    { protocolVersion: 5 },
  );
  const seen: unknown[] = [];
  new MqttReader(mqttPacket.parser({ protocolVersion: 5 }), 5, (p) => seen.push(p.properties?.userProperties)).parse(
    bytes,
  );
  assert.deepEqual(seen, [Object.assign(Object.create(null), { k: ['', 'second'] })]);
});

test('a PUBLISH split across chunks is emitted once complete, with the payload of its own bytes', () => {
  const bytes = mqttPacket.generate(
    { cmd: 'publish', topic: 't/a', payload: Buffer.from('{"x":1}'), qos: 1, messageId: 5, dup: false, retain: false },
    { protocolVersion: 5 },
  );
  const seen: string[] = [];
  const fallback = { parse: () => assert.fail('a PUBLISH went to the fallback'), on: () => undefined };
  const reader = new MqttReader(fallback, 5, (p) => seen.push(`${p.topic} ${p.messageId} ${p.payload.toString()}`));
  for (const b of bytes) reader.parse(Buffer.from([b]));
  assert.deepEqual(seen, ['t/a 5 {"x":1}']);
});

test('a large PUBLISH arriving in many small reads is joined once, with every byte of its payload', () => {
  const payload = Buffer.alloc(3 * 2 ** 20, 7);
  const bytes = mqttPacket.generate(
    { cmd: 'publish', topic: 't/big', payload, qos: 1, messageId: 2, dup: false, retain: false },
    { protocolVersion: 5 },
  );
  const seen: Buffer[] = [];
  const reader = new MqttReader(mqttPacket.parser({ protocolVersion: 5 }), 5, (p) => seen.push(p.payload as Buffer));
  const concat = Buffer.concat;
  let joins = 0;
  Buffer.concat = (...args: Parameters<typeof concat>) => {
    joins++;
    return concat(...args);
  };
  try {
    for (let o = 0; o < bytes.length; o += 16 * 1024) reader.parse(Buffer.from(bytes.subarray(o, o + 16 * 1024)));
  } finally {
    Buffer.concat = concat;
  }
  assert.equal(seen.length, 1);
  assert.ok(payload.equals(seen[0] as Buffer));
  assert.equal(joins, 1, 'the reads were joined more than once: quadratic copying for large packets');
});
