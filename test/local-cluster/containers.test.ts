// The restart back-off of a crashing container: quick to retry at first, capped, and forgiven after a long run.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { restartBackoff, restarts } from './containers.ts';

test('restartBackoff: 0, 1, 2, 4 … s up to 20 s over consecutive crashes; reset after a minute up', () => {
  const delays: number[] = [];
  let crashes = 0;
  for (let i = 0; i < 8; i++) {
    const b = restartBackoff(crashes, 1000);
    delays.push(b.delayMs);
    crashes = b.crashes;
  }
  assert.deepEqual(delays, [0, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
  assert.deepEqual(restartBackoff(crashes, 61_000), { delayMs: 0, crashes: 1 }, 'a long run forgives the crashes');
  assert.deepEqual(restartBackoff(crashes, 59_000).delayMs, 20000);
});

test('restartPolicy: Always restarts, OnFailure only after a failure, Never never', () => {
  assert.deepEqual(
    [undefined, 'Always', 'OnFailure', 'Never'].map((p) => [restarts(p, 0), restarts(p, 1)]),
    [
      [true, true],
      [true, true],
      [false, true],
      [false, false],
    ],
  );
});
