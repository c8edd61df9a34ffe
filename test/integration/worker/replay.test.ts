// `mqtt2pg replay` against real PostgreSQL (through PgBouncer), MinIO and Mosquitto: dead letters of a poison
// cause re-fed after the cause is fixed land once; an object is never deleted before its rows are committed;
// a dry run keeps everything; rejected rows in the unparseable table are moved into the table.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import mqtt from 'mqtt';
import { requireEnv } from '../../lib/env.ts';
import { POISON_KEY, poisonColumnSql } from '../../lib/fuzz-corpus.ts';
import { allStored, ledger, s3Client, withDb } from '../../lib/ledger.ts';
import {
  cleanupDirs,
  makePipeline,
  pipelineCommand,
  type TestPipeline,
  WorkerProcess,
} from '../../lib/worker-process.ts';

after(cleanupDirs);

/** Publishes ids <runId>-0..total-1; those in `poison` carry a value the table's smallint column refuses. */
async function publishWithPoison(p: TestPipeline, runId: string, total: number, poison: Set<number>) {
  const client = await mqtt.connectAsync(requireEnv('MQTT_URL'), {
    protocolVersion: 5,
    username: requireEnv('MQTT_USERNAME'),
    password: requireEnv('MQTT_PASSWORD'),
  });
  const device = randomUUID();
  for (let n = 0; n < total; n++) {
    const body = { id: `${runId}-${n}`, run: runId, ...(poison.has(n) ? { [POISON_KEY]: 99_999 } : {}) };
    await client.publishAsync(`t/acme/d/${device}/evt/${p.path}/x`, JSON.stringify(body), { qos: 1 });
  }
  await client.endAsync();
}

async function objectKeys(p: TestPipeline): Promise<string[]> {
  const s3 = s3Client();
  try {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: requireEnv('S3_BUCKET'), Prefix: p.dlqPrefix }));
    return (page.Contents ?? []).map((o) => o.Key as string).sort();
  } finally {
    s3.destroy();
  }
}

const tableCount = (p: TestPipeline) =>
  withDb(async (c) => Number((await c.query(`SELECT count(*) AS n FROM "${p.table}"`)).rows[0].n));

async function replay(p: TestPipeline, ...args: string[]) {
  const r = await pipelineCommand(p, 'replay', '--quiet', ...args);
  return { ...r, summary: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

async function withPoisonedTable(p: TestPipeline): Promise<WorkerProcess> {
  const w = WorkerProcess.start(p);
  await w.waitReady();
  await withDb((c) => c.query(poisonColumnSql(p.table)));
  return w;
}

async function stop(w: WorkerProcess) {
  w.kill('SIGTERM');
  assert.equal((await w.exited).code, 0, w.output);
}

describe('mqtt2pg replay', () => {
  test('dead letters re-fed after the poison cause is fixed all land once; objects go only after commit', async () => {
    const p = makePipeline({ spec: { flusher: { batchSize: 100, flushInterval: '100ms' } } });
    const w = await withPoisonedTable(p);
    const runId = `replay${randomBytes(3).toString('hex')}`;
    const total = 300;
    const poison = new Set([3, 50, 51, 150, 299]);
    await publishWithPoison(p, runId, total, poison);
    await allStored(p, runId, total);
    await stop(w);
    const keys = await objectKeys(p);
    assert.ok(keys.length > 0);
    assert.equal((await ledger(p, runId)).deadLetters.size, poison.size);

    // The table fails (not the rows): the replay stops, nothing deleted, nothing stored.
    await withDb((c) => c.query(`ALTER TABLE "${p.table}" RENAME TO "${p.table}_away"`));
    try {
      const failed = await replay(p);
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /nothing uncommitted was deleted/);
    } finally {
      await withDb((c) => c.query(`ALTER TABLE "${p.table}_away" RENAME TO "${p.table}"`));
    }
    assert.deepEqual(await objectKeys(p), keys);

    // Not fixed yet: a dry run says they are still rejected, and changes nothing.
    const stillBad = await replay(p, '--dry-run');
    assert.equal(stillBad.code, 3, stillBad.stderr);
    assert.equal(stillBad.summary.stillRejected, poison.size);
    assert.deepEqual(await objectKeys(p), keys);

    await withDb((c) => c.query(`ALTER TABLE "${p.table}" DROP COLUMN small_value`));
    const dry = await replay(p, '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(
      { stored: dry.summary.stored, stillRejected: dry.summary.stillRejected, deleted: dry.summary.deleted },
      { stored: poison.size, stillRejected: 0, deleted: 0 },
    );
    assert.equal(await tableCount(p), total - poison.size);
    assert.deepEqual(await objectKeys(p), keys);

    const done = await replay(p);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.summary.stored, poison.size);
    assert.equal(done.summary.deleted, keys.length);
    assert.deepEqual(await objectKeys(p), []);
    const l = await ledger(p, runId);
    assert.equal(l.telemetry.size, total);
    assert.deepEqual(
      [...l.telemetry.values()].filter((n) => n !== 1),
      [],
      'every id once',
    );
    assert.equal(l.deadLetters.size, 0);

    const again = await replay(p);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.summary.messages, 0);
    assert.equal(await tableCount(p), total);
  });

  test('--unparseable --reason rejected moves rows PostgreSQL refused (no DLQ) into the table once fixed', async () => {
    const p = makePipeline({ dlq: false, spec: { flusher: { batchSize: 100, flushInterval: '100ms' } } });
    const w = await withPoisonedTable(p);
    const runId = `replayu${randomBytes(3).toString('hex')}`;
    const total = 200;
    const poison = new Set([0, 77, 199]);
    await publishWithPoison(p, runId, total, poison);
    await allStored(p, runId, total);
    await stop(w);
    assert.equal((await ledger(p, runId)).unparseable.size, poison.size);

    const stillBad = await replay(p, '--unparseable', '--reason', 'rejected');
    assert.equal(stillBad.code, 3, stillBad.stderr);
    assert.equal(stillBad.summary.stillRejected, poison.size);
    assert.equal((await ledger(p, runId)).unparseable.size, poison.size, 'still-rejected rows stay');

    await withDb((c) => c.query(`ALTER TABLE "${p.table}" DROP COLUMN small_value`));
    const done = await replay(p, '--unparseable', '--reason', 'rejected');
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(
      { stored: done.summary.stored, deleted: done.summary.deleted },
      { stored: poison.size, deleted: poison.size },
    );
    const l = await ledger(p, runId);
    assert.equal(l.telemetry.size, total);
    assert.deepEqual(
      [...l.telemetry.values()].filter((n) => n !== 1),
      [],
    );
    assert.equal(l.unparseable.size, 0);
  });
});
