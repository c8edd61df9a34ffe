import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLAIM_LEASE_MS, STALL_MS, type StopAction, type StopState, stopAction, takeOver } from './stop-decide.ts';

test('what a stopping worker does next', () => {
  const base: StopState = {
    now: 10_000,
    walMessages: 500,
    drainDeadline: 60_000,
    lastProgressAt: 9_000,
    canSpill: true,
  };
  const rows: Array<[string, Partial<StopState>, StopAction]> = [
    ['WAL empty: done, whatever else', { walMessages: 0, now: 99_000, lastProgressAt: 0 }, 'done'],
    ['PostgreSQL committing, time left: drain', {}, 'drain'],
    ['no commit for less than the stall time: drain', { lastProgressAt: 10_000 - STALL_MS + 1 }, 'drain'],
    ['no commit for the stall time: spill', { lastProgressAt: 10_000 - STALL_MS }, 'spill'],
    ['drain time used up: spill', { now: 60_000, lastProgressAt: 59_999 }, 'spill'],
    [
      'nowhere to spill, time left: drain, even with PostgreSQL stalled',
      { canSpill: false, lastProgressAt: 0 },
      'drain',
    ],
    ['nowhere to spill, drain time used up: leave the rest in the WAL', { canSpill: false, now: 60_000 }, 'leave'],
  ];
  for (const [why, over, want] of rows) assert.equal(stopAction({ ...base, ...over }), want, why);
});

test('a spill object someone claimed is taken over only from a previous life of this pod or after the lease', () => {
  assert.equal(takeOver({ me: 'w-a', owner: 'w-a', ageMs: 0 }), true, 'its own claim from before a restart');
  assert.equal(takeOver({ me: 'w-a', owner: 'w-b', ageMs: CLAIM_LEASE_MS - 1 }), false, 'another worker is on it');
  assert.equal(takeOver({ me: 'w-a', owner: 'w-b', ageMs: CLAIM_LEASE_MS }), true, 'the claimer died: lease over');
});
