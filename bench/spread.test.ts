import assert from 'node:assert/strict';
import { test } from 'node:test';
import { showSpread, spread } from './spread.ts';

test('the median of an odd and an even count, with the range and every sample kept', () => {
  assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3, samples: [3, 1, 2] });
  assert.equal(spread([1, 2, 3, 10]).median, 2.5);
  assert.equal(showSpread(spread([47314, 45120, 48002]), ' msg/s'), '47314 msg/s (45120–48002)');
  assert.equal(showSpread(spread([0.76])), '0.76');
});
