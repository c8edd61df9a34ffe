// What a dedup key costs on the write path: the same batches written by plain COPY (no unique index), plain
// COPY into a table with the key's unique index, the staging path (COPY into an ON COMMIT DROP staging
// table, INSERT … ON CONFLICT DO NOTHING), and the worker's writer (dedup-writer.ts: COPY in a savepoint
// first, the staging path on a refused key), one connection through PgBouncer as a flusher writes them.
// Short: `node bench/dedup-cost.ts [rows] [batch]` with the test environment's variables (.test-env/env).

import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { dedupCopy, dedupIndexSql } from '../worker/dedup-copy.ts';
import { DedupWriter } from '../worker/dedup-writer.ts';
import { copyChunks } from '../worker/rows.ts';

const rows = Number(process.argv[2] ?? 200_000);
const batch = Number(process.argv[3] ?? 5000);
const url = process.env.PGBOUNCER_URL;
if (!url) throw new Error('PGBOUNCER_URL is not set: load .test-env/env (make test-env)');

const schema = `bench_dedup_${Date.now()}`;
const columns = ['msg_id', 'tenant', 'device_id', 'payload', 'received_at'];
const devices = Array.from({ length: 100 }, () => randomUUID());
const pad = 'x'.repeat(150);
const lines = Array.from(
  { length: rows },
  (_, n) =>
    `m-${n}\ttenant${n % 5}\t${devices[n % 100]}\t{"id":"m-${n}","v":${n},"pad":"${pad}"}\t${new Date(1_795_996_800_000 + n).toISOString()}\n`,
);

async function timed(c: pg.Client, table: string, write: (chunk: string[]) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < rows; i += batch) {
    await c.query('BEGIN');
    await write(lines.slice(i, i + batch));
    await c.query('COMMIT');
  }
  const rate = Math.round(rows / ((performance.now() - t0) / 1000));
  console.log(`${table}: ${rate} rows/s`);
  return rate;
}

const c = new pg.Client({ connectionString: url });
await c.connect();
try {
  await c.query(`CREATE SCHEMA "${schema}"`);
  for (const t of ['plain', 'indexed', 'dedup', 'writer'])
    await c.query(
      `CREATE TABLE "${schema}"."${t}" (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, msg_id text NOT NULL, tenant text NOT NULL, device_id uuid NOT NULL, payload jsonb NOT NULL, received_at timestamptz NOT NULL)`,
    );
  await c.query(dedupIndexSql(schema, 'indexed', ['msg_id']));
  await c.query(dedupIndexSql(schema, 'dedup', ['msg_id']));
  await c.query(dedupIndexSql(schema, 'writer', ['msg_id']));
  const copy = (table: string) => async (chunk: string[]) => {
    await pipeline(
      Readable.from(copyChunks(chunk, (l) => l)),
      c.query(copyStreams.from(`COPY "${schema}"."${table}" (${columns.join(', ')}) FROM STDIN`)),
    );
  };
  const plain = await timed(c, 'plain COPY', copy('plain'));
  const indexed = await timed(c, 'COPY, unique index on the key', copy('indexed'));
  const target = { schema, table: 'dedup', columns, key: ['msg_id'] };
  const dedup = await timed(c, 'dedup (staging COPY + INSERT ON CONFLICT)', async (chunk) => {
    await dedupCopy(
      c,
      target,
      copyChunks(chunk, (l) => l),
    );
  });
  const writer = new DedupWriter({ ...target, table: 'writer' });
  const copyFirst = await timed(c, 'dedup writer (COPY in a savepoint first)', async (chunk) => {
    await writer.write(c, () => copyChunks(chunk, (l) => l), 'mqtt2pg_stage');
  });
  const again = await timed(c, 'dedup, every row a duplicate', async (chunk) => {
    await dedupCopy(
      c,
      target,
      copyChunks(chunk, (l) => l),
    );
  });
  console.log(
    JSON.stringify({
      rows,
      batch,
      plain,
      indexed,
      dedup,
      copyFirst,
      allDuplicates: again,
      dedupVsPlain: +(dedup / plain).toFixed(2),
      copyFirstVsPlain: +(copyFirst / plain).toFixed(2),
    }),
  );
} finally {
  await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
  await c.end();
}
