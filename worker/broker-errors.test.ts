import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IConnackPacket, ISubackPacket } from 'mqtt-packet';
import { connackRefusal, handshakeTimeout, subackRefusal } from './broker-errors.ts';

const connack = (fields: Partial<IConnackPacket>): IConnackPacket => ({
  cmd: 'connack',
  sessionPresent: false,
  ...fields,
});

test('an accepting CONNACK is no refusal, in MQTT 5 and 3.1.1', () => {
  assert.equal(connackRefusal(connack({ reasonCode: 0 }), 5, 'mqtt://b:1883'), undefined);
  assert.equal(connackRefusal(connack({ returnCode: 0 }), 4, 'mqtt://b:1883'), undefined);
});

test('refused credentials are permanent and point at the Secret, whichever protocol version said it', () => {
  const v5 = connackRefusal(connack({ reasonCode: 0x87 }), 5, 'mqtt://b:1883');
  const v4 = connackRefusal(connack({ returnCode: 5 }), 4, 'mqtt://b:1883');
  for (const e of [v5, v4]) {
    assert.equal(e?.permanent, true);
    assert.match(
      e?.message ?? '',
      /broker mqtt:\/\/b:1883 refused the connection: not authorized.*source\.auth\.secretRef/,
    );
  }
  assert.match(connackRefusal(connack({ returnCode: 4 }), 4, 'w')?.message ?? '', /bad user name or password/);
});

test('a busy or unavailable server, or an unknown code, is worth retrying', () => {
  assert.equal(connackRefusal(connack({ reasonCode: 0x89 }), 5, 'w')?.permanent, false);
  assert.equal(connackRefusal(connack({ returnCode: 3 }), 4, 'w')?.permanent, false);
  const unknown = connackRefusal(connack({ reasonCode: 0x9c }), 5, 'w');
  assert.equal(unknown?.permanent, false);
  assert.match(unknown?.message ?? '', /reason code 0x9c/);
});

test('an MQTT 3.1.1 refusal of an MQTT 5 CONNECT says the broker does not speak MQTT 5, and is permanent', () => {
  // Moquette 0.17 answers an MQTT 5 CONNECT with a 3.1.1 CONNACK, return code 1 (unacceptable protocol
  // version), which an MQTT 5 parser reads as reason code 0x01: no MQTT 5 reason code.
  const e = connackRefusal(connack({ reasonCode: 1 }), 5, 'mqtt://b:1883');
  assert.equal(e?.permanent, true);
  assert.match(e?.message ?? '', /does not speak MQTT 5.*source\.protocolVersion: 4.*shared subscriptions/);
  assert.match(connackRefusal(connack({ returnCode: 1 }), 4, 'w')?.message ?? '', /unsupported protocol version/);
});

test('a refused subscription is permanent and names the filter; a granted QoS is no refusal', () => {
  const suback = (granted: number[]): ISubackPacket => ({ cmd: 'suback', messageId: 1, granted });
  assert.equal(subackRefusal(suback([1]), '$share/g/t/#'), undefined);
  const refused = subackRefusal(suback([0x87]), '$share/g/t/#');
  assert.equal(refused?.permanent, true);
  assert.match(refused?.message ?? '', /refused the subscription \$share\/g\/t\/# \(reason 0x87\)/);
  assert.match(subackRefusal(suback([]), 't/#')?.message ?? '', /reason 0x80/);
});

test('0x91 (packet identifier in use) is no ACL problem and worth retrying', () => {
  const e = subackRefusal({ cmd: 'suback', messageId: 1, granted: [0x91] }, '$share/g/t/#');
  assert.equal(e?.permanent, false);
  assert.doesNotMatch(e?.message ?? '', /ACL/);
});

test('a handshake timeout is slow (waited for) only when the broker accepted the connection', () => {
  const late = handshakeTimeout('mqtt://b:1883', 30000, true);
  assert.equal(late.slow, true);
  assert.equal(late.permanent, false);
  assert.match(
    late.message,
    /accepted the connection but sent no CONNACK\/SUBACK within 30000 ms.*source\.connectTimeout/,
  );
  assert.equal(handshakeTimeout('mqtt://b:1883', 30000, false).slow, false);
});
