import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffMs, classifyFailure } from './pg-errors.ts';

test('row-level SQLSTATEs isolate the row; everything else is retried', () => {
  for (const code of ['22P02', '22P05', '22021', '23505', '23502', '54000'])
    assert.equal(classifyFailure({ code }), 'row', code);
  for (const code of ['08006', '57P01', '53300', '40001', '40P01', '57014', '42P01', '28P01', '3D000', 'XX000']) {
    assert.equal(classifyFailure({ code }), 'retry', code);
  }
  assert.equal(classifyFailure(new Error('connect ECONNREFUSED')), 'retry');
  assert.equal(classifyFailure({ code: 'ECONNRESET' }), 'retry');
});

test('backoff doubles from the initial delay, is capped, and is jittered within [ceiling/2, ceiling]', () => {
  const lo = () => 0;
  const hi = () => 1;
  assert.equal(backoffMs(0, 100, 30_000, hi), 100);
  assert.equal(backoffMs(3, 100, 30_000, hi), 800);
  assert.equal(backoffMs(20, 100, 30_000, hi), 30_000);
  assert.equal(backoffMs(20, 100, 30_000, lo), 15_000);
  assert.equal(backoffMs(1000, 100, 30_000, hi), 30_000);
});
