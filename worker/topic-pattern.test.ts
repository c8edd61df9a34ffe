import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileTopicFilter, compileTopicPattern } from './topic-pattern.ts';

test('a pattern gives its captures in order; literals must match', () => {
  const p = compileTopicPattern('plant/{plant}/line/{line}/machine/{machine}/reading');
  assert.deepEqual(p.names, ['plant', 'line', 'machine']);
  assert.deepEqual(p.match('plant/p1/line/l2/machine/m3/reading'), { ok: true, captures: ['p1', 'l2', 'm3'] });
  assert.equal(p.match('plant/p1/line/l2/machine/m3/status').ok, false);
  assert.equal(p.match('plant/p1/line/l2/machine/m3').ok, false);
  assert.equal(p.match('plant/p1/line/l2/machine/m3/reading/x').ok, false);
});

test('{rest+} takes the remaining levels, zero or more, as # does', () => {
  const p = compileTopicPattern('t/{tenant}/d/{device_id:uuid}/evt/{path+}');
  const id = '0b6f3c2a-8d7e-4f5a-9c1b-2e3d4f5a6b7c';
  assert.deepEqual(p.match(`t/acme/d/${id}/evt/a/b/c`), { ok: true, captures: ['acme', id, 'a/b/c'] });
  assert.deepEqual(p.match(`t/acme/d/${id}/evt`), { ok: true, captures: ['acme', id, ''] });
  assert.deepEqual(p.match('t/acme/d/not-a-uuid/evt/x'), {
    ok: false,
    detail: '{device_id:uuid} must be a UUID (level 4 of t/{tenant}/d/{device_id:uuid}/evt/{path+})',
  });
});

test('filters match as MQTT says: + one level (even empty), # the rest and the parent, no wildcard on $ topics', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a//c', true],
    ['a/+/c', 'a/b/c/d', false],
    ['a/+', 'a', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/b', 'a/bb', false],
    ['a/b', 'a/b', true],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
  ];
  for (const [filter, topic, want] of cases)
    assert.equal(compileTopicFilter(filter).matches(topic), want, `${filter} vs ${topic}`);
});
