import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reserveBytes, reserveFileBytes, roomForReserveFile, volumeState } from './wal-volume.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

test('the reserve is 5% of the volume, at least 64 MiB, at most 1 GiB, never more than a quarter of it', () => {
  assert.equal(reserveBytes(10 * GiB), Math.floor(10 * GiB * 0.05));
  assert.equal(reserveBytes(500 * GiB), GiB);
  assert.equal(reserveBytes(GiB), 64 * MiB);
  assert.equal(reserveBytes(128 * MiB), 32 * MiB);
  assert.equal(reserveFileBytes(10 * GiB), 16 * MiB);
  assert.equal(reserveFileBytes(32 * MiB), Math.floor(3.2 * MiB));
});

test('reading stops below the reserve and resumes only well above it', () => {
  const total = GiB; // reserve 64 MiB, resume at 80 MiB
  assert.equal(volumeState(100 * MiB, total, false).low, false);
  assert.equal(volumeState(63 * MiB, total, false).low, true);
  assert.equal(volumeState(70 * MiB, total, true).low, true, 'no flapping just above the reserve');
  assert.equal(volumeState(70 * MiB, total, false).low, false);
  assert.equal(volumeState(81 * MiB, total, true).low, false);
});

test('the reserve file is made again only when it fits above the resume mark', () => {
  const total = GiB;
  assert.equal(roomForReserveFile(volumeState(90 * MiB, total, false)), false);
  assert.equal(roomForReserveFile(volumeState(97 * MiB, total, false)), true);
  assert.equal(roomForReserveFile(volumeState(10 * MiB, total, true)), false);
});
