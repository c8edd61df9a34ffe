import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, backoffDelay, KeyedBackoff, sleep } from './backoff.ts';

const longest = () => 0;
const shortest = () => 1;

test('backoff doubles up to the cap and jitter only shortens it', () => {
  const o = { initialMs: 100, maxMs: 1000, jitter: 0 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, o)),
    [100, 200, 400, 800, 1000, 1000],
  );
  const jittered = backoffDelay(3, { ...o, jitter: 0.5 }, shortest);
  assert.equal(jittered, 400);
});

test('with jitter 0.5 (the worker retry loops) a delay lies within [ceiling/2, ceiling], however many attempts', () => {
  const o = { initialMs: 100, maxMs: 30_000, jitter: 0.5 };
  assert.equal(backoffDelay(0, o, longest), 100);
  assert.equal(backoffDelay(3, o, longest), 800);
  assert.equal(backoffDelay(20, o, longest), 30_000);
  assert.equal(backoffDelay(20, o, shortest), 15_000);
  assert.equal(backoffDelay(1000, o, longest), 30_000);
});

test('a delay is never below 1 ms, so a retry loop cannot spin', () => {
  assert.equal(backoffDelay(0, { initialMs: 0, maxMs: 10 }), 1);
  assert.equal(backoffDelay(0, { initialMs: 1, maxMs: 10, jitter: 1 }, shortest), 1);
});

test('Backoff grows with each retry of a loop and starts over after a success', () => {
  const b = new Backoff({ initialMs: 10, maxMs: 1000, jitter: 0 });
  assert.deepEqual([b.next(), b.next(), b.next()], [10, 20, 40]);
  b.reset();
  assert.equal(b.next(), 10);
});

test('KeyedBackoff counts retries per key; resetting one key leaves the others', () => {
  const b = new KeyedBackoff({ initialMs: 10, maxMs: 1000, jitter: 0 });
  assert.deepEqual([b.next('a'), b.next('a'), b.next('b'), b.next('a')], [10, 20, 10, 40]);
  b.reset('a');
  assert.deepEqual([b.next('a'), b.next('b')], [10, 20]);
});

test('sleep ends early, resolving, when its signal aborts', async () => {
  const controller = new AbortController();
  const started = performance.now();
  const slept = sleep(60_000, controller.signal);
  controller.abort();
  await slept;
  assert.ok(performance.now() - started < 1000);
  await sleep(60_000, controller.signal); // already aborted: returns at once
});
