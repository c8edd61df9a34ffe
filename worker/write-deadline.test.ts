import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WriteDeadline, WriteTimeoutError, writeTimeouts } from './write-deadline.ts';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the whole write may take the statement timeout plus a margin; the first answer 10 s', () => {
  assert.deepEqual(writeTimeouts(60_000), { firstAnswerMs: 10_000, totalMs: 70_000 });
});

test('no answer to BEGIN: the connection is cut at the first deadline and the error says so', async () => {
  let cuts = 0;
  const d = new WriteDeadline({ firstAnswerMs: 20, totalMs: 10_000 }, () => cuts++);
  await wait(60);
  assert.equal(cuts, 1);
  const err = d.explain(new Error('Connection terminated'));
  assert.ok(err instanceof WriteTimeoutError);
  assert.equal(err.code, 'ETIMEDOUT');
  assert.match(err.message, /went silent: no answer to BEGIN within 20 ms; the connection was cut/);
  d.clear();
});

test('an answered write has the rest of the total; a write that finishes in time is left alone', async () => {
  let cuts = 0;
  const slow = new WriteDeadline({ firstAnswerMs: 20, totalMs: 80 }, () => cuts++);
  await wait(5);
  slow.answered();
  await wait(40);
  assert.equal(cuts, 0, 'past the first deadline, but answered');
  await wait(80);
  assert.equal(cuts, 1, 'past the total');
  assert.match((slow.explain(new Error('x')) as Error).message, /did not finish within 80 ms/);
  slow.clear();

  const fine = new WriteDeadline({ firstAnswerMs: 20, totalMs: 80 }, () => cuts++);
  fine.answered();
  const own = new Error('duplicate key');
  assert.equal(fine.explain(own), own, 'an error of its own passes through');
  fine.clear();
  await wait(100);
  assert.equal(cuts, 1, 'cleared: never cut');
});
