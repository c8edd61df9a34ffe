import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipeline } from '../test/lib/pipelines.ts';
import { drainSeconds, podGraceSeconds, spillSeconds, spills } from './shutdown.ts';

const s3 = { deadLetter: { s3: { bucket: 'dlq' } } };

test('an Ephemeral worker with a bucket gets the time to spill a full WAL on top of its drain time', () => {
  const { r } = pipeline({ ...s3, wal: { sizeLimit: '1Gi', storage: { type: 'Ephemeral' } } });
  assert.equal(spills(r), true);
  assert.equal(spillSeconds(r), 5 + 64);
  assert.equal(podGraceSeconds(r), 60 + 69);
  assert.equal(drainSeconds(r), 55);
  const small = pipeline({ ...s3, wal: { sizeLimit: '64Mi', storage: { type: 'Ephemeral' } } }).r;
  assert.equal(spillSeconds(small), 9);
});

test('a persistent WAL, or an Ephemeral one with no bucket, gets the spec grace period and does not spill', () => {
  for (const spec of [
    { ...s3, terminationGracePeriodSeconds: 30 },
    { wal: { storage: { type: 'Ephemeral' as const } }, terminationGracePeriodSeconds: 30 },
  ]) {
    const { r } = pipeline(spec);
    assert.equal(spills(r), false);
    assert.equal(spillSeconds(r), 0);
    assert.equal(podGraceSeconds(r), 30);
    assert.equal(drainSeconds(r), 25);
  }
  assert.equal(drainSeconds(pipeline({ terminationGracePeriodSeconds: 10 }).r), 5);
});
