// `mqtt2pg drain` against real Mosquitto and PostgreSQL: the WAL a stopped worker left behind (its table was
// locked, its drain budget short) is flushed by the command alone, without the broker, into the same places
// the worker would have written; and the command refuses, clearly, what it cannot drain, and leaves a WAL it
// could not finish intact.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { Wal } from '../../../worker/wal.ts';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { freePort } from '../../lib/free-port.ts';
import { allStored, ledger } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import {
  cleanupDirs,
  makePipeline,
  pipelineCommand,
  rewritePipeline,
  type TestPipeline,
  WorkerProcess,
} from '../../lib/worker-process.ts';

after(cleanupDirs);

const drain = (p: TestPipeline, ...args: string[]) => pipelineCommand(p, 'drain', ...args);

async function walMessages(dir: string): Promise<number> {
  const wal = await Wal.open({ dir, sizeLimitBytes: 2 ** 30, retentionMs: 3_600_000 });
  try {
    return wal.messages;
  } finally {
    await wal.close();
  }
}

test('the WAL a stopped worker left behind is drained into PostgreSQL by mqtt2pg drain: every acknowledged id stored, the WAL empty', async (t) => {
  const p = makePipeline({ spec: { flusher: { retry: { initialBackoff: '100ms', maxBackoff: '1s' } } } });
  const w = WorkerProcess.start(p, { args: ['--drain-timeout', '2'] });
  await w.waitReady();
  const runId = `drn${randomBytes(3).toString('hex')}`;
  const count = 6000;
  const malformed = 0.02;

  // The table locked in a held transaction: nothing commits, every acknowledged message stays in the WAL.
  const locker = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  await locker.connect();
  let left = 0;
  try {
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE "${p.table}" IN ACCESS EXCLUSIVE MODE`);
    const summary = await publish(p.path, runId, { count, rate: 3000, malformedRatio: malformed });
    assert.equal(summary.acked, count, 'the broker acknowledged every publish');
    await eventually(async () => assert.ok((await w.metric('mqtt2pg_acked_total')) >= count), {
      timeoutMs: 30_000,
      what: 'the worker acknowledging every message',
    });
    w.kill('SIGTERM');
    const exit = await w.exited;
    assert.equal(exit.code, 0, w.output.slice(-3000));
    assert.match(w.output, /drain deadline reached; the rest stays in the WAL/);
    left = await walMessages(p.walDir);
    assert.ok(left >= count, `the stopped worker left ${left} messages in its WAL; ${count} were acknowledged`);
  } finally {
    await locker.query('COMMIT').catch(() => {});
    await locker.end();
  }
  assert.equal((await ledger(p, runId)).telemetry.size, 0, 'nothing was committed before the drain');

  const r = await drain(p, '--timeout', '30s');
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  assert.match(r.stderr, /drain: \d+s 0 of \d+ messages left \(100% flushed\)/);
  const s = JSON.parse(r.stdout.trim());
  assert.equal(s.messagesAtStart, left);
  assert.equal(s.left, 0);
  assert.equal(s.flushed, left);
  assert.equal(s.rows + s.unparseable + s.deadLettered, left);
  assert.ok(s.unparseable > 0, 'malformed payloads went to the unparseable table, as the worker does');

  const a = await allStored(p, runId, count, 10_000);
  assert.deepEqual(a.missing, []);
  assert.deepEqual(a.inSeveral, []);
  assert.equal(await walMessages(p.walDir), 0, 'the WAL is empty');
  t.diagnostic(
    `acknowledged ${count}; WAL left by the worker ${left}; drained in ${s.seconds} s: ${s.rows} rows, ${s.unparseable} unparseable, ${s.deadLettered} dead letters; duplicates ${a.duplicates}`,
  );

  // Draining an empty WAL again is a no-op that succeeds.
  const again = await drain(p);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout.trim()).messagesAtStart, 0);
});

test('a directory that does not exist, or holds no WAL, is refused naming the path', async () => {
  const p = makePipeline();
  const missing = await drain(p);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, new RegExp(`no WAL at ${p.walDir}: the directory does not exist`));
  mkdirSync(p.walDir);
  const empty = await drain(p);
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, new RegExp(`no WAL at ${p.walDir}: the directory holds no WAL`));
  assert.equal(missing.stdout + empty.stdout, '');
  // In a drain Job: a volume whose worker never started has nothing to drain.
  const emptyOk = await drain(p, '--empty-ok');
  assert.equal(emptyOk.code, 0, emptyOk.stderr);
  assert.equal(JSON.parse(emptyOk.stdout.trim()).left, 0);
});

test('a WAL another process holds open is refused: a running worker flushes it itself', async () => {
  const p = makePipeline();
  const held = await Wal.open({ dir: p.walDir, sizeLimitBytes: 2 ** 20, retentionMs: 3_600_000 });
  try {
    const r = await drain(p);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot open the WAL at ${p.walDir}`));
    assert.match(r.stderr, /a running worker holds this WAL/);
  } finally {
    await held.close();
  }
});

test('PostgreSQL unreachable past --timeout: exit 1 saying what failed, the WAL intact for a rerun', async () => {
  const p = makePipeline();
  const n = 500;
  const wal = await Wal.open({ dir: p.walDir, sizeLimitBytes: 2 ** 30, retentionMs: 3_600_000 });
  for (let i = 0; i < n; i++) {
    const payload = Buffer.from(JSON.stringify({ id: `dead-${i}`, ts: new Date().toISOString(), v: i }));
    wal.append({ topic: `t/a/d/dev1/evt/${p.path}/x`, payload, receivedAt: Date.now(), qos: 1, dup: false });
  }
  await wal.settled();
  await wal.close();
  rewritePipeline(p, { spec: { sink: { postgres: { port: await freePort() } } } });

  const started = Date.now();
  const report = join(p.walDir, '..', 'termination-log');
  const r = await drain(p, '--timeout', '2s', '--termination-log', report);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(Date.now() - started < 20_000, `gave up after ${Date.now() - started} ms with --timeout 2s`);
  assert.match(r.stderr, /could not finish: nothing was flushed for \d+ s; last error: postgres: .*ECONNREFUSED/);
  assert.match(r.stderr, new RegExp(`${n} messages stay in the WAL at ${p.walDir}, intact`));
  assert.match(r.stderr, /run the command again/);
  assert.equal(JSON.parse(r.stdout.trim()).left, n);
  // What a drain Job's pod leaves for the operator: the count, and why.
  const terminated = JSON.parse(readFileSync(report, 'utf8')) as { left: number; error: string };
  assert.equal(terminated.left, n);
  assert.match(terminated.error, /could not finish: nothing was flushed/);
  assert.equal(await walMessages(p.walDir), n, 'the WAL still holds every message');
});
