import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drainWindow } from './drain-window.ts';

const s = (t: number, committed: number, backlog: number) => ({ t, committed, backlog });

test('the drain rate counts from the sample before the first commit to the empty backlog', () => {
  // Nothing commits for 0.7 s (PostgreSQL starting, PgBouncer reconnecting), then 100 rows per 0.1 s.
  const samples = [s(0, 0, 1000), s(0.5, 0, 1000), s(0.7, 0, 1000), s(0.8, 100, 900)];
  for (let i = 2; i <= 10; i++) samples.push(s(0.7 + i / 10, i * 100, 1000 - i * 100));
  const w = drainWindow(samples);
  assert.equal(w.resumeSeconds, 0.7);
  assert.ok(Math.abs(w.drainSeconds - 1) < 1e-9);
  assert.equal(w.rowsPerS, 1000);
  assert.ok(Math.abs(w.totalSeconds - 1.7) < 1e-9);
  assert.equal(w.totalRowsPerS, 588);
});

test('a drain that commits from the first interval has no resume time', () => {
  const w = drainWindow([s(0, 0, 300), s(0.1, 100, 200), s(0.2, 200, 100), s(0.3, 300, 0)]);
  assert.equal(w.resumeSeconds, 0);
  assert.equal(w.rowsPerS, 1000);
});

test('samples that never show an empty backlog are an error, not a rate', () => {
  assert.throws(() => drainWindow([s(0, 0, 10), s(1, 5, 5)]), /never show the backlog emptied/);
});
