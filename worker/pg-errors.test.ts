import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyFailure } from './pg-errors.ts';

test('row-level SQLSTATEs isolate the row; everything else is retried', () => {
  for (const code of ['22P02', '22P05', '22021', '23505', '23502', '54000'])
    assert.equal(classifyFailure({ code }), 'row', code);
  for (const code of ['08006', '57P01', '53300', '40001', '40P01', '57014', '42P01', '28P01', '3D000', 'XX000']) {
    assert.equal(classifyFailure({ code }), 'retry', code);
  }
  assert.equal(classifyFailure(new Error('connect ECONNREFUSED')), 'retry');
  assert.equal(classifyFailure({ code: 'ECONNRESET' }), 'retry');
});
