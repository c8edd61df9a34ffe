import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, parseBytes, parseDurationMs } from './units.ts';

test('durations in Kubernetes style parse to milliseconds', () => {
  assert.equal(parseDurationMs('250ms'), 250);
  assert.equal(parseDurationMs('15s'), 15_000);
  assert.equal(parseDurationMs('1h30m'), 5_400_000);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('168h'), 604_800_000);
});

test('malformed durations are refused with the accepted shape in the message', () => {
  for (const bad of ['', '10', '5 s', '1d', 's10']) {
    assert.throws(() => parseDurationMs(bad), /duration/);
  }
});

test('byte quantities parse with binary and decimal suffixes and format back', () => {
  assert.equal(parseBytes('1Gi'), 1_073_741_824);
  assert.equal(parseBytes('512Mi'), 536_870_912);
  assert.equal(parseBytes('2M'), 2_000_000);
  assert.equal(parseBytes('1000'), 1000);
  assert.throws(() => parseBytes('1GB'), /byte quantity/);
  assert.equal(formatBytes(1_073_741_824), '1Gi');
  assert.equal(formatBytes(1536 * 2 ** 20), '1536Mi');
  assert.equal(formatBytes(1000), '1000');
});
