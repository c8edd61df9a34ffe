import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { pubackPackets } from './broker-connection.ts';

for (const protocolVersion of [4, 5] as const) {
  test(`PUBACKs written back to back are the packets mqtt-packet reads and writes (MQTT ${protocolVersion === 5 ? '5' : '3.1.1'})`, () => {
    const ids = [1, 2, 255, 256, 258, 40000, 65535];
    const bytes = pubackPackets(ids);
    const parser = mqttPacket.parser({ protocolVersion });
    const seen: Array<{ cmd: string; messageId?: number; reasonCode?: number }> = [];
    parser.on('packet', (p) => seen.push(p as never));
    parser.on('error', (err) => assert.fail(err));
    parser.parse(bytes);
    assert.deepEqual(
      seen.map((p) => [p.cmd, p.messageId, p.reasonCode ?? 0]),
      ids.map((id) => ['puback', id, 0]),
    );
    const reference = Buffer.concat(
      ids.map((messageId) => mqttPacket.generate({ cmd: 'puback', messageId, reasonCode: 0 }, { protocolVersion })),
    );
    assert.deepEqual(bytes, reference);
  });
}
