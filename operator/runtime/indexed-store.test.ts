import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IndexedStore } from './indexed-store.ts';

interface Obj {
  name: string;
  owner?: string;
}
const names = (objs: Obj[]) => objs.map((o) => o.name).sort();

test('objects are found by their index value, and move when it changes', () => {
  const s = new IndexedStore<Obj>((o) => o.owner);
  s.set('a', { name: 'a', owner: 'p1' });
  s.set('b', { name: 'b', owner: 'p1' });
  s.set('c', { name: 'c', owner: 'p2' });
  s.set('d', { name: 'd' });
  assert.deepEqual(names(s.byIndex('p1')), ['a', 'b']);
  assert.deepEqual(names(s.byIndex('p2')), ['c']);

  s.set('b', { name: 'b', owner: 'p2' });
  assert.deepEqual(names(s.byIndex('p1')), ['a']);
  assert.deepEqual(names(s.byIndex('p2')), ['b', 'c']);

  s.set('a', { name: 'a' });
  assert.deepEqual(s.byIndex('p1'), [], 'an object that lost its value leaves the index');
  assert.equal(s.size, 4);
});

test('a deleted object leaves the index; deleting an unknown key changes nothing', () => {
  const s = new IndexedStore<Obj>((o) => o.owner);
  s.set('a', { name: 'a', owner: 'p1' });
  s.set('b', { name: 'b', owner: 'p1' });
  s.delete('a');
  s.delete('zz');
  assert.deepEqual(names(s.byIndex('p1')), ['b']);
  assert.equal(s.get('a'), undefined);
  assert.deepEqual(names([...s.values()]), ['b']);
});

test('without an index function the store holds everything, and byIndex refuses rather than find nothing', () => {
  const s = new IndexedStore<Obj>();
  s.set('a', { name: 'a', owner: 'p1' });
  assert.throws(() => s.byIndex('p1'), /without an index: give its informer indexBy/);
  assert.equal(s.get('a')?.name, 'a');
});

test('the returned array is a copy: changing it does not change the store', () => {
  const s = new IndexedStore<Obj>((o) => o.owner);
  s.set('a', { name: 'a', owner: 'p1' });
  s.byIndex('p1').pop();
  assert.deepEqual(names(s.byIndex('p1')), ['a']);
});
