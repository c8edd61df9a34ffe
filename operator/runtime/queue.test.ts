import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkQueue } from './queue.ts';

const tick = () => new Promise((r) => setImmediate(r));

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test('a key added many times while waiting is reconciled once', async () => {
  const q = new WorkQueue();
  for (let i = 0; i < 5; i++) q.add('ns/a');
  q.add('ns/b');
  const seen: string[] = [];
  const run = q.run(async (k) => {
    seen.push(k);
    return undefined;
  }, 2);
  await tick();
  await tick();
  q.shutdown();
  await run;
  assert.deepEqual(seen.sort(), ['ns/a', 'ns/b']);
});

test('a key is never reconciled twice at once; an add during its reconcile runs it again after', async () => {
  const q = new WorkQueue();
  let active = 0;
  let maxActive = 0;
  let calls = 0;
  const gate = deferred();
  const second = deferred();
  const run = q.run(async () => {
    calls++;
    active++;
    maxActive = Math.max(maxActive, active);
    if (calls === 1) await gate.promise;
    active--;
    if (calls === 2) second.resolve();
    return undefined;
  }, 4);
  q.add('ns/a');
  await tick();
  q.add('ns/a');
  q.add('ns/a');
  await tick();
  assert.equal(calls, 1, 'held back while the first reconcile runs');
  gate.resolve();
  await second.promise;
  q.shutdown();
  await run;
  assert.equal(calls, 2);
  assert.equal(maxActive, 1);
});

test('a failing key comes back after a growing, capped backoff and resets on success', async () => {
  const errors: number[] = [];
  const q = new WorkQueue({ initialMs: 5, maxMs: 20, jitter: 0 }, { onError: (_k, _e, ms) => errors.push(ms) });
  let calls = 0;
  const done = deferred();
  const run = q.run(async () => {
    calls++;
    if (calls < 5) throw new Error('API down');
    done.resolve();
    return undefined;
  }, 1);
  q.add('ns/a');
  await done.promise;
  q.shutdown();
  await run;
  assert.deepEqual(errors, [5, 10, 20, 20]);
});

test('shutdown waits for the reconcile in flight', async () => {
  const q = new WorkQueue();
  const gate = deferred();
  let finished = false;
  const run = q.run(async () => {
    await gate.promise;
    finished = true;
    return undefined;
  }, 1);
  q.add('ns/a');
  await tick();
  q.shutdown();
  let settled = false;
  run.then(() => {
    settled = true;
  });
  await tick();
  assert.equal(settled, false);
  gate.resolve();
  await run;
  assert.equal(finished, true);
});

test('requeueAfter brings a key back without an event', async () => {
  const q = new WorkQueue();
  let calls = 0;
  const twice = deferred();
  const run = q.run(async () => {
    calls++;
    if (calls === 2) twice.resolve();
    return calls === 1 ? { requeueAfterMs: 5 } : undefined;
  }, 1);
  q.add('ns/a');
  await twice.promise;
  q.shutdown();
  await run;
  assert.equal(calls, 2);
});
