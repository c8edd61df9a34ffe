import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DROP_GRACE_MS,
  isOwnPartition,
  type PartitionRange,
  PartitionWindow,
  partitionName,
  planPartitions,
} from './partition-plan.ts';

const H = 3_600_000;
const D = 24 * H;
const at = (iso: string) => Date.parse(iso);
const day = (iso: string): PartitionRange => ({
  name: partitionName('readings', at(iso), D),
  fromMs: at(iso),
  toMs: at(iso) + D,
});
const names = (rs: PartitionRange[]) => rs.map((r) => r.name);

describe('partition names', () => {
  test('days, hours, and long table names cut to 63 bytes', () => {
    assert.equal(partitionName('readings', at('2026-11-30T00:00:00Z'), D), 'readings_p20261130');
    assert.equal(partitionName('readings', at('2026-11-30T06:00:00Z'), 6 * H), 'readings_p20261130_06');
    const long = 'x'.repeat(63);
    const name = partitionName(long, at('2026-11-30T00:00:00Z'), D);
    assert.equal(name.length, 63);
    assert.ok(isOwnPartition(long, name));
  });
  test('only partitions named the way mqtt2pg names them are its own', () => {
    assert.ok(isOwnPartition('readings', 'readings_p20261130'));
    assert.ok(isOwnPartition('readings', 'readings_p20261130_06'));
    assert.ok(!isOwnPartition('readings', 'readings_archive_2019'));
    assert.ok(!isOwnPartition('readings', 'other_p20261130'));
  });
});

describe('planPartitions', () => {
  const daily = { intervalMs: D, retentionMs: 3 * D, premake: 2 };
  const now = at('2026-11-30T13:00:00Z');

  test('a new table gets the partitions back to the retention and premake ahead', () => {
    const plan = planPartitions('readings', daily, now, []);
    assert.deepEqual(names(plan.create), [
      'readings_p20261127',
      'readings_p20261128',
      'readings_p20261129',
      'readings_p20261130',
      'readings_p20261201',
      'readings_p20261202',
    ]);
    assert.deepEqual(plan.drop, []);
  });

  test('without a retention: from the current partition on, nothing dropped', () => {
    const plan = planPartitions('readings', { ...daily, retentionMs: undefined }, now, [day('2020-01-01T00:00:00Z')]);
    assert.deepEqual(names(plan.create), ['readings_p20261130', 'readings_p20261201', 'readings_p20261202']);
    assert.deepEqual(plan.drop, []);
  });

  test('a day later: one more ahead, the one past the retention dropped', () => {
    const existing = planPartitions('readings', daily, now, []).create;
    const plan = planPartitions('readings', daily, now + D, existing);
    assert.deepEqual(names(plan.create), ['readings_p20261203']);
    assert.deepEqual(names(plan.drop), ['readings_p20261127']);
  });

  test('a partition is dropped only once its whole range is past the retention', () => {
    const existing = [day('2026-11-27T00:00:00Z')];
    const justBefore = at('2026-11-28T00:00:00Z') + 3 * D - 1;
    assert.deepEqual(planPartitions('readings', daily, justBefore, existing).drop, []);
    assert.deepEqual(names(planPartitions('readings', daily, justBefore + 1, existing).drop), ['readings_p20261127']);
  });

  test('existing partitions are kept, whoever made them; only own ones are dropped', () => {
    const theirs = { name: 'readings_archive', fromMs: at('2026-11-01T00:00:00Z'), toMs: at('2026-11-29T00:00:00Z') };
    const plan = planPartitions('readings', daily, now, [theirs]);
    assert.deepEqual(names(plan.create), [
      'readings_p20261129',
      'readings_p20261130',
      'readings_p20261201',
      'readings_p20261202',
    ]);
    assert.deepEqual(planPartitions('readings', daily, now + 100 * D, [theirs]).drop, []);
  });

  test('hourly partitions align on the hour', () => {
    const plan = planPartitions(
      'r',
      { intervalMs: H, retentionMs: undefined, premake: 1 },
      at('2026-11-30T13:59:59Z'),
      [],
    );
    assert.deepEqual(names(plan.create), ['r_p20261130_13', 'r_p20261130_14']);
  });

  test('running the plan twice creates nothing the second time', () => {
    const first = planPartitions('readings', daily, now, []);
    assert.deepEqual(planPartitions('readings', daily, now, first.create), { create: [], drop: [] });
  });
});

describe('PartitionWindow', () => {
  const now = at('2026-11-30T13:00:00Z');
  const parts = [day('2026-11-28T00:00:00Z'), day('2026-11-29T00:00:00Z'), day('2026-11-30T00:00:00Z')];

  test('a value inside a partition is accepted', () => {
    const w = new PartitionWindow(parts, undefined);
    assert.equal(w.refuse(at('2026-11-29T12:00:00Z'), now), undefined);
    assert.equal(w.refuse(at('2026-11-28T00:00:00Z'), now), undefined);
  });

  test('too old, too far ahead and in a gap say which, with the span', () => {
    const w = new PartitionWindow([parts[0] as PartitionRange, parts[2] as PartitionRange], undefined);
    assert.match(
      w.refuse(at('2026-01-01T00:00:00Z'), now) ?? '',
      /^older than the oldest partition \(partitions span 2026-11-28T00:00:00.000Z to 2026-12-01T00:00:00.000Z\)$/,
    );
    assert.match(w.refuse(at('2026-12-01T00:00:00Z'), now) ?? '', /^later than the newest partition .*raise premake/);
    assert.match(w.refuse(at('2026-11-29T01:00:00Z'), now) ?? '', /^in a gap between partitions/);
  });

  test('rows of a partition about to be dropped are refused before the drop', () => {
    const w = new PartitionWindow(parts, 2 * D);
    const dropAt = at('2026-11-29T00:00:00Z') + 2 * D;
    assert.equal(w.refuse(at('2026-11-28T06:00:00Z'), dropAt - DROP_GRACE_MS - 1), undefined);
    assert.match(
      w.refuse(at('2026-11-28T06:00:00Z'), dropAt - DROP_GRACE_MS) ?? '',
      /past the retention: its partition readings_p20261128/,
    );
  });

  test('no partitions at all', () => {
    assert.match(new PartitionWindow([], undefined).refuse(now, now) ?? '', /no partitions yet/);
  });
});
