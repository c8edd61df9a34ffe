import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyFailure, describeBlock, doubtfulAreRows } from './pg-errors.ts';

test('row-level SQLSTATEs isolate the row; table, server and connection failures are retried', () => {
  for (const code of ['22P02', '22P05', '22021', '23505', '23503', '54000'])
    assert.equal(classifyFailure({ code }), 'row', code);
  for (const code of [
    '08006',
    '08P01',
    '57P01',
    '53100',
    '53300',
    '40001',
    '40P01',
    '57014',
    '42P01',
    '42703',
    '42804',
    '28P01',
    '3D000',
    'XX000',
  ]) {
    assert.equal(classifyFailure({ code }), 'retry', code);
  }
  assert.equal(classifyFailure(new Error('connect ECONNREFUSED')), 'retry');
  assert.equal(classifyFailure({ code: 'ECONNRESET' }), 'retry');
});

test('23514: a CHECK constraint (named in the error) is the row; a missing partition (none named) is the table', () => {
  // What pg's DatabaseError carries for each (PostgreSQL 15).
  const check = {
    code: '23514',
    constraint: 'no_seven',
    message: 'new row for relation "t" violates check constraint "no_seven"',
  };
  const noPartition = { code: '23514', message: 'no partition of relation "t" found for row' };
  const partitionBound = { code: '23514', message: 'new row for relation "t_2026" violates partition constraint' };
  assert.equal(classifyFailure(check), 'row');
  assert.equal(classifyFailure(noPartition), 'retry');
  assert.equal(classifyFailure(partitionBound), 'retry');
});

test('NOT NULL and stack depth can be a row or the table: doubtful rows are the rows’ only when the table took others', () => {
  assert.equal(classifyFailure({ code: '23502' }), 'doubt');
  assert.equal(classifyFailure({ code: '54001' }), 'doubt');
  assert.equal(doubtfulAreRows(10, 11), true, 'a neighbour or another batch committed meanwhile');
  assert.equal(doubtfulAreRows(10, 10), false, 'nothing committed: the table refuses every row');
});

test('a block names its SQLSTATE (or socket error) and says what to fix', () => {
  const partition = describeBlock({ code: '23514', message: 'no partition of relation "t" found for row' });
  assert.equal(partition.code, '23514');
  assert.match(partition.fix, /create the partition/);
  assert.match(describeBlock({ code: '42P01', message: 'relation "t" does not exist' }).fix, /mqtt2pg migrate/);
  assert.match(describeBlock({ code: '53100', message: 'could not extend file' }).fix, /disk is full/);
  assert.match(describeBlock({ code: '08006', message: 'connection failure' }).fix, /connection to PostgreSQL/);
  const refused = describeBlock(
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6432'), { code: 'ECONNREFUSED' }),
  );
  assert.deepEqual([refused.code, refused.message], ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:6432']);
  assert.match(refused.fix, /check that it runs/);
  assert.equal(describeBlock(new Error('Connection terminated unexpectedly')).code, 'unknown');
  assert.equal(describeBlock(new Error('timeout expired')).code, 'ETIMEDOUT', "pg's connect timeout");
  assert.match(describeBlock({ code: 'XX000', message: 'internal' }).fix, /see the message/);
});
