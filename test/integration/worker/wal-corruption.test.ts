// A WAL record damaged on disk, against real PostgreSQL and Mosquitto: the worker replaying it, and
// `mqtt2pg drain` flushing it, move the damaged record aside (kept in the WAL directory, counted, reported)
// and deliver every record around it; neither crash-loops. Before, the record's decode error was an unhandled
// rejection in the flusher that killed the worker on every replay.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { Level } from 'level';
import { Wal } from '../../../worker/wal.ts';
import { decodeGroup } from '../../../worker/wal-record.ts';
import { eventually } from '../../lib/eventually.ts';
import { account, ledger } from '../../lib/ledger.ts';
import {
  cleanupDirs,
  makePipeline,
  pipelineCommand,
  type TestPipeline,
  WorkerProcess,
} from '../../lib/worker-process.ts';

after(cleanupDirs);

const DEVICE = '550e8400-e29b-41d4-a716-446655440000';
const GROUPS = 5;
const PER_GROUP = 200;

/** A WAL left behind with GROUPS records of PER_GROUP messages each, ids `${runId}-n` in order. */
async function writeWal(p: TestPipeline, runId: string): Promise<void> {
  const wal = await Wal.open({ dir: p.walDir, sizeLimitBytes: 2 ** 30, retentionMs: 3_600_000 });
  for (let g = 0; g < GROUPS; g++) {
    for (let i = 0; i < PER_GROUP; i++) {
      const n = g * PER_GROUP + i;
      const payload = Buffer.from(JSON.stringify({ id: `${runId}-${n}`, run: runId, v: n }));
      wal.append({ topic: `t/acme/d/${DEVICE}/evt/${p.path}/x`, payload, receivedAt: Date.now(), qos: 1, dup: false });
    }
    await wal.settled(); // one synced write, one record
  }
  await wal.close();
}

/** Overwrites bytes of the middle record as a bad disk would, keeping its format version byte; returns its ids. */
async function damageMiddleRecord(dir: string): Promise<string[]> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  try {
    const keys = await db.keys().all();
    assert.equal(keys.length, GROUPS);
    const key = keys[GROUPS >> 1] as Buffer;
    const value = (await db.get(key)) as Buffer;
    const ids = decodeGroup(value).map((m) => JSON.parse(m.payload.toString()).id as string);
    const damaged = Buffer.from(value);
    damaged.fill(0xff, 1, 64);
    await db.put(key, damaged);
    return ids;
  } finally {
    await db.close();
  }
}

async function expectAllBut(p: TestPipeline, runId: string, lost: string[]): Promise<void> {
  const total = GROUPS * PER_GROUP;
  await eventually(
    async () => {
      const a = account(await ledger(p, runId), runId, total);
      assert.deepEqual(a.missing, lost, 'exactly the damaged record is missing');
      assert.deepEqual(a.inSeveral, []);
    },
    { timeoutMs: 30_000, intervalMs: 500, what: 'every record around the damaged one delivered' },
  );
}

test('a worker replaying a WAL with a damaged record moves it aside and delivers the rest, without a crash', async () => {
  const p = makePipeline();
  const runId = `wcr${randomBytes(3).toString('hex')}`;
  await writeWal(p, runId);
  const lost = await damageMiddleRecord(p.walDir);

  const w = WorkerProcess.start(p);
  await w.waitReady();
  await expectAllBut(p, runId, lost);
  assert.equal(w.child.exitCode, null, `the worker exited:\n${w.output.slice(-3000)}`);
  assert.equal(await w.metric('mqtt2pg_wal_quarantined_messages'), PER_GROUP);
  assert.equal(await w.metric('mqtt2pg_wal_quarantined_records'), 1);
  const ready = await fetch(`http://127.0.0.1:${w.healthPort}/readyz`);
  assert.equal(ready.status, 200);
  assert.match(await ready.text(), /1 damaged WAL entries \(200 messages\) are kept aside in .*docs\/reliability\.md/);
  assert.match(w.output, /"reason":"WAL record checksum mismatch.*"msg":"a damaged WAL record was moved aside/);
  w.kill('SIGTERM');
  assert.equal((await w.exited).code, 0);

  // Kept across restarts, and said so at start; never replayed.
  const again = WorkerProcess.start(p);
  await again.waitReady();
  assert.equal(await again.metric('mqtt2pg_wal_quarantined_messages'), PER_GROUP);
  assert.equal(await again.metric('mqtt2pg_wal_messages'), 0);
  again.kill('SIGTERM');
  assert.equal((await again.exited).code, 0);
  assert.match(again.output, /1 damaged WAL entries \(200 messages\) are kept aside/);
});

test('mqtt2pg drain moves a damaged record aside, drains the rest and reports it', async () => {
  const p = makePipeline();
  const runId = `wcd${randomBytes(3).toString('hex')}`;
  await writeWal(p, runId);
  const lost = await damageMiddleRecord(p.walDir);

  const migrated = await pipelineCommand(p, 'migrate');
  assert.equal(migrated.code, 0, migrated.stderr);
  const r = await pipelineCommand(p, 'drain', '--timeout', '30s');
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const s = JSON.parse(r.stdout.trim());
  assert.equal(s.messagesAtStart, GROUPS * PER_GROUP);
  assert.equal(s.quarantined, PER_GROUP);
  assert.equal(s.rows, (GROUPS - 1) * PER_GROUP);
  assert.equal(s.left, 0);
  assert.match(r.stderr, /mqtt2pg drain: 1 damaged WAL entries \(200 messages\) are kept aside in /);
  await expectAllBut(p, runId, lost);
});
