// Partition maintenance against real PostgreSQL through PgBouncer (transaction pooling), with a clock the test
// moves: partitions created ahead, the ones past the retention dropped, many maintainers at once, and the
// dedup write path into the partitioned table (a redelivered batch stores each key once).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createLogger } from '../../../common/logger.ts';
import { dedupCopy, dedupIndexSql } from '../../../worker/dedup-copy.ts';
import { DedupWriter, STAGING_AFTER_CONFLICT } from '../../../worker/dedup-writer.ts';
import { createPartitionedTableSql } from '../../../worker/partition-ddl.ts';
import { listPartitions, PartitionMaintainer } from '../../../worker/partition-maintainer.ts';
import { requireEnv } from '../../lib/env.ts';
import { withDb } from '../../lib/ledger.ts';

const D = 86_400_000;
const schema = `parts_${randomBytes(4).toString('hex')}`;
const log = createLogger('error', { test: 'partitions' });
const config = () => ({ connectionString: requireEnv('PGBOUNCER_URL') });

before(() => withDb((c) => c.query(`CREATE SCHEMA "${schema}"`)));
after(() => withDb((c) => c.query(`DROP SCHEMA "${schema}" CASCADE`)));

async function makeTable(table: string) {
  await withDb(async (c) => {
    await c.query(
      createPartitionedTableSql({
        schema,
        table,
        columnDefs: ['"machine" text', '"measured_at" timestamptz', '"v" double precision'],
        column: 'measured_at',
      }),
    );
    await c.query(dedupIndexSql(schema, table, ['machine', 'measured_at']));
  });
}

/** makeTable with today's and tomorrow's daily partitions, as maintenance at `now` makes them. */
async function makeDailyTable(table: string, now: number) {
  await makeTable(table);
  await new PartitionMaintainer(
    config(),
    { schema, table, settings: { intervalMs: D, retentionMs: undefined, premake: 1 } },
    log,
    { now: () => now },
  ).runOnce();
}

const target = (table: string) => ({
  schema,
  table,
  columns: ['machine', 'measured_at', 'v'],
  key: ['machine', 'measured_at'],
});

/** One connection through PgBouncer; `write(batch)` runs `f` in a transaction of its own. */
async function withWrites<T>(
  f: (c: pg.Client, batch: string[]) => Promise<T>,
  body: (write: (batch: string[]) => Promise<T>) => Promise<void>,
) {
  const c = new pg.Client(config());
  await c.connect();
  try {
    await body(async (batch) => {
      await c.query('BEGIN');
      const r = await f(c, batch);
      await c.query('COMMIT');
      return r;
    });
  } finally {
    await c.end();
  }
}

const names = async (table: string) =>
  withDb(async (c) => (await listPartitions(c, schema, table)).map((p) => p.name).sort());

describe('partition maintenance', () => {
  test('creates partitions ahead and drops those past the retention as the clock moves', async () => {
    await makeTable('readings');
    let now = Date.parse('2026-11-30T13:00:00Z');
    const m = new PartitionMaintainer(
      config(),
      { schema, table: 'readings', settings: { intervalMs: D, retentionMs: 2 * D, premake: 2 } },
      log,
      { now: () => now },
    );
    assert.equal(m.refuse(Date.parse('2020-01-01T00:00:00Z')), undefined, 'unknown window: nothing refused on a guess');
    await m.runOnce();
    assert.deepEqual(await names('readings'), [
      'readings_p20261128',
      'readings_p20261129',
      'readings_p20261130',
      'readings_p20261201',
      'readings_p20261202',
    ]);
    assert.equal(m.refuse(Date.parse('2026-12-02T23:59:59Z')), undefined);
    assert.match(m.refuse(Date.parse('2026-12-03T00:00:00Z')) ?? '', /later than the newest partition/);
    assert.match(m.refuse(Date.parse('2026-11-27T23:00:00Z')) ?? '', /older than the oldest partition/);

    await withDb((c) =>
      c.query(`INSERT INTO "${schema}".readings (machine, measured_at, v) VALUES ('m1', '2026-11-28T06:00:00Z', 1)`),
    );
    now += 2 * D;
    const r = await m.runOnce();
    assert.deepEqual(r.created, ['readings_p20261203', 'readings_p20261204']);
    assert.deepEqual(r.dropped, ['readings_p20261128', 'readings_p20261129']);
    assert.deepEqual(await names('readings'), [
      'readings_p20261130',
      'readings_p20261201',
      'readings_p20261202',
      'readings_p20261203',
      'readings_p20261204',
    ]);
    const left = await withDb((c) => c.query(`SELECT count(*)::int AS n FROM "${schema}".readings`));
    assert.equal(left.rows[0].n, 0, 'the rows of the dropped partition are gone with it');
  });

  test('five maintainers at once through PgBouncer: each partition made once, no error', async () => {
    await makeTable('crowd');
    const now = Date.parse('2026-11-30T13:00:00Z');
    const ms = Array.from(
      { length: 5 },
      () =>
        new PartitionMaintainer(
          config(),
          { schema, table: 'crowd', settings: { intervalMs: D, retentionMs: 7 * D, premake: 3 } },
          log,
          { now: () => now },
        ),
    );
    const results = await Promise.all(ms.map((m) => m.runOnce()));
    assert.equal(results.flatMap((r) => r.created).length, 11, 'eleven partitions, each created by one of them');
    assert.equal((await names('crowd')).length, 11);
  });

  test('dedup into the partitioned table: the same batch written twice stores each key once', async () => {
    const now = Date.parse('2026-11-30T13:00:00Z');
    await makeDailyTable('dedup', now);
    const lines = Array.from(
      { length: 1000 },
      (_, n) => `m${n % 10}\t${new Date(now + n * 1000).toISOString()}\t${n}\n`,
    );
    const t = target('dedup');
    await withWrites(
      (c, batch) => dedupCopy(c, t, [batch.join('')]),
      async (write) => {
        assert.deepEqual(await write(lines), { copied: 1000, inserted: 1000 });
        assert.deepEqual(await write([...lines.slice(500), ...lines.slice(0, 10)]), { copied: 510, inserted: 0 });
        // Two transactions in a row on whatever server connection PgBouncer hands out: no staging table left over.
        assert.deepEqual(await write([lines[0] as string, `m0\t${new Date(now + D).toISOString()}\t1\n`]), {
          copied: 2,
          inserted: 1,
        });
      },
    );
    const n = await withDb((c) => c.query(`SELECT count(*)::int AS n FROM "${schema}".dedup`));
    assert.equal(n.rows[0].n, 1001);
  });

  test('dedup writer: new keys by plain COPY, a batch with a stored key through the staging table, values intact', async () => {
    const now = Date.parse('2026-11-30T13:00:00Z');
    await makeDailyTable('writer', now);
    const line = (n: number) => `m${n % 10}\t${new Date(now + n * 1000).toISOString()}\t${n}\n`;
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => line(from + i));
    const w = new DedupWriter(target('writer'));
    await withWrites(
      (c, batch) => w.write(c, () => [batch.join('')], 'stage'),
      async (write) => {
        assert.deepEqual(await write(range(0, 500)), { copied: 500, inserted: 500 });
        // 100 stored keys among 200 new ones, and a key twice within the batch: the new ones stored once.
        assert.deepEqual(await write([...range(400, 700), line(650)]), { copied: 301, inserted: 200 });
        // The writes after a conflict go through the staging table, still storing new keys once.
        for (let i = 0; i < STAGING_AFTER_CONFLICT + 1; i++)
          assert.deepEqual(await write(range(700 + i * 10, 710 + i * 10)), { copied: 10, inserted: 10 });
      },
    );
    const r = await withDb((c) =>
      c.query(`SELECT count(*)::int AS n, count(DISTINCT v)::int AS d, sum(v)::int AS s FROM "${schema}".writer`),
    );
    const stored = 700 + (STAGING_AFTER_CONFLICT + 1) * 10;
    assert.deepEqual(r.rows[0], { n: stored, d: stored, s: (stored * (stored - 1)) / 2 });
  });
});
