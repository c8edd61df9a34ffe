import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTopic } from './topic.ts';

const dev = '550e8400-e29b-41d4-a716-446655440000';

test('a contract topic yields tenant, device and path', () => {
  assert.deepEqual(parseTopic(`t/acme/d/${dev}/evt/sensors/temp`), {
    ok: true,
    tenant: 'acme',
    deviceId: dev,
    path: 'sensors/temp',
  });
  assert.deepEqual(parseTopic(`t/A_b-9/d/${dev.toUpperCase()}/evt/x`), {
    ok: true,
    tenant: 'A_b-9',
    deviceId: dev.toUpperCase(),
    path: 'x',
  });
  // t/+/d/+/evt/# also matches the evt level itself: an empty path.
  assert.deepEqual(parseTopic(`t/acme/d/${dev}/evt`), { ok: true, tenant: 'acme', deviceId: dev, path: '' });
});

test('every way to break the contract has its reason', () => {
  const cases: Array<[string, string]> = [
    [`x/acme/d/${dev}/evt/a`, 'topic_shape'],
    [`t/acme/device/${dev}/evt/a`, 'topic_shape'],
    [`t/acme/d/${dev}/event/a`, 'topic_shape'],
    [`t/acme/d/${dev}`, 'topic_shape'],
    ['t', 'topic_shape'],
    ['', 'topic_shape'],
    [`t/ac me/d/${dev}/evt/a`, 'bad_tenant'],
    [`t//d/${dev}/evt/a`, 'bad_tenant'],
    [`t/${'a'.repeat(65)}/d/${dev}/evt/a`, 'bad_tenant'],
    [`t/acmé/d/${dev}/evt/a`, 'bad_tenant'],
    ['t/acme/d/not-a-uuid/evt/a', 'bad_device_id'],
    [`t/acme/d/${dev}x/evt/a`, 'bad_device_id'],
    [`t/acme/d/${dev}/evt/${'p'.repeat(1024)}`, 'topic_too_long'],
  ];
  for (const [topic, reason] of cases) {
    const r = parseTopic(topic);
    assert.equal(r.ok, false, topic);
    if (!r.ok) assert.equal(r.reason, reason, topic);
  }
});

test('the 1024-byte limit counts UTF-8 bytes, not characters', () => {
  const prefix = `t/acme/d/${dev}/evt/`;
  const fits = prefix + 'é'.repeat((1024 - prefix.length) / 2);
  assert.equal(Buffer.byteLength(fits), 1024);
  assert.equal(parseTopic(fits).ok, true);
  assert.equal(parseTopic(`${fits}x`).ok, false);
});
