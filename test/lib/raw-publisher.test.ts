import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { encodePublish } from './raw-publisher.ts';

const parse = (b: Buffer) => {
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  const out: mqttPacket.Packet[] = [];
  parser.on('packet', (p: mqttPacket.Packet) => out.push(p));
  parser.parse(b);
  return out;
};

test('a raw PUBLISH is what an MQTT 5 parser reads back: topic, id, DUP, user properties, payload', () => {
  const payload = Buffer.alloc(300_000, 7);
  const b = encodePublish(
    {
      n: 0,
      topic: Buffer.from('t/a/d/ж/evt/x'),
      payload,
      userProperties: [
        [Buffer.from('k'), Buffer.from('v1')],
        [Buffer.from('k'), Buffer.from('v2')],
        [Buffer.alloc(0), Buffer.alloc(0)],
      ],
    },
    513,
    true,
  );
  const [p] = parse(b) as mqttPacket.IPublishPacket[];
  assert.ok(p);
  assert.equal(p.topic, 't/a/d/ж/evt/x');
  assert.equal(p.messageId, 513);
  assert.equal(p.qos, 1);
  assert.equal(p.dup, true);
  assert.deepEqual({ ...p.properties?.userProperties }, { k: ['v1', 'v2'], '': '' });
  assert.ok(Buffer.from(p.payload as Buffer).equals(payload));
});

test('a topic longer than the u16 length field is refused before it is sent', () => {
  assert.throws(
    () => encodePublish({ n: 0, topic: Buffer.alloc(70_000, 0x61), payload: Buffer.alloc(0), userProperties: [] }, 1),
    /topic of 70000 bytes does not fit/,
  );
});
