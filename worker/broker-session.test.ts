import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ISubackPacket } from 'mqtt-packet';
import { BrokerError } from './broker-errors.ts';
import {
  InflightWindow,
  SessionWatch,
  SUBSCRIBE_ATTEMPTS,
  shortenedSessionExpiry,
  subackOutcome,
  subscribePacketId,
  waitForSlowBroker,
} from './broker-session.ts';

const suback = (code: number): ISubackPacket => ({ cmd: 'suback', messageId: 65535, granted: [code] });

test('the SUBSCRIBE packet id avoids ids the broker holds in flight and ids it refused', () => {
  assert.equal(
    subscribePacketId(() => false),
    65535,
  );
  const inFlight = new Set([65535, 65534]);
  const refused = new Set([65533]);
  assert.equal(
    subscribePacketId((id) => inFlight.has(id) || refused.has(id)),
    65532,
  );
});

test('0x91 (packet identifier in use) is retried with another id, then a retryable failure; never an ACL hint', () => {
  const sub = '$share/g/t/#';
  assert.deepEqual(subackOutcome(suback(1), sub, 1), { kind: 'granted' });
  assert.deepEqual(subackOutcome(suback(0x91), sub, 1), { kind: 'retry' });
  const last = subackOutcome(suback(0x91), sub, SUBSCRIBE_ATTEMPTS);
  assert.equal(last.kind, 'refused');
  if (last.kind !== 'refused') return;
  assert.equal(last.error.permanent, false);
  assert.doesNotMatch(last.error.message, /ACL/);
  assert.match(last.error.message, /packet identifier in use/);
  const acl = subackOutcome(suback(0x87), sub, 1);
  assert.equal(acl.kind === 'refused' && acl.error.permanent, true);
});

test('a lost session: a reconnect without the session the worker asked to keep, not a first start', () => {
  const w = new SessionWatch({ protocolVersion: 5, sessionExpirySeconds: 3600 });
  assert.equal(w.subscribed(false, 1000), undefined, 'first connection: nothing to compare with');
  w.disconnected(2000);
  assert.equal(w.subscribed(true, 3000), undefined, 'resumed');
  w.disconnected(4000);
  assert.deepEqual(w.subscribed(false, 9000), { disconnectedForMs: 5000, expiredBySetting: false });
  assert.equal(w.lost, 1);
  assert.match(w.note(), /^broker session lost 1 time, last at 1970-01-01T00:00:09.000Z: .*may be lost upstream/);

  const short = new SessionWatch({ protocolVersion: 5, sessionExpirySeconds: 2 });
  short.subscribed(true, 0);
  short.disconnected(0);
  assert.equal(short.subscribed(false, 5000)?.expiredBySetting, true, 'disconnected past source.sessionExpiry');

  const ended = new SessionWatch({ protocolVersion: 5, sessionExpirySeconds: 0 });
  ended.subscribed(false, 0);
  assert.equal(ended.subscribed(false, 1), undefined, 'expiry 0 asks for no session: nothing lost');
  assert.equal(ended.note(), '');

  const v4 = new SessionWatch({ protocolVersion: 4, sessionExpirySeconds: 0 });
  v4.subscribed(true, 0);
  assert.ok(v4.subscribed(false, 1), 'MQTT 3.1.1 clean=false always asks for the session');
});

test('the in-flight window reports messages beyond the Receive Maximum the worker asked for', () => {
  const w = new InflightWindow(2);
  assert.equal(w.add(1), false);
  assert.equal(w.add(2), false);
  assert.equal(w.add(2), false, 'a redelivery of an id in flight is not beyond the window');
  assert.equal(w.add(3), true);
  w.delete(1);
  w.delete(3);
  assert.equal(w.add(4), false);
  assert.equal(w.size, 2);
});

test('startup waits only for a broker that accepted the connection but answered late', () => {
  const slow = new BrokerError('slow', false, true);
  const refused = new BrokerError('ECONNREFUSED', false);
  const auth = new BrokerError('not authorized', true);
  assert.equal(waitForSlowBroker([slow]), true);
  assert.equal(waitForSlowBroker([refused, slow]), true);
  assert.equal(waitForSlowBroker([refused]), false, 'nobody listening: a configuration error, fail fast');
  assert.equal(waitForSlowBroker([slow, auth]), false);
  assert.equal(waitForSlowBroker([]), false);
});

test('a CONNACK that shortens the session expiry the worker asked for is reported', () => {
  assert.equal(shortenedSessionExpiry(3600, undefined), undefined, 'no property: the asked expiry stands');
  assert.equal(shortenedSessionExpiry(3600, 3600), undefined);
  assert.equal(shortenedSessionExpiry(3600, 300), 300);
});
