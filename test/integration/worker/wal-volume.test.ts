// The WAL's volume filling up, on a real 32 MiB filesystem (tmpfs; the suite runs as root), with real
// Mosquitto and PostgreSQL. The WAL's size limit counts record bytes only, so the volume can fill before it
// (LevelDB's own files, other files on the volume). Before, ENOSPC failed the WAL write (the worker exited),
// and reopening LevelDB on the full volume failed too: a crash loop. Now (worker/wal-volume.ts):
// - below a reserve of free space the worker stops reading (the broker keeps the messages) and is not ready;
// - a worker started on a completely full volume opens (it deletes its reserve file first), drains its WAL
//   into PostgreSQL, and reads again once there is room; every acknowledged message lands.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { RESERVE_FILE } from '../../../worker/wal-volume.ts';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { allStored } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import { cleanupDirs, makePipeline, WorkerProcess } from '../../lib/worker-process.ts';

after(cleanupDirs);

const MiB = 2 ** 20;

/** Writes `file` until the volume has `leaveBytes` or less free (0: until ENOSPC). */
function fill(file: string, leaveBytes: number): void {
  const fd = openSync(file, 'a');
  const chunk = Buffer.alloc(256 * 1024, 1);
  try {
    for (;;) {
      const s = statfsSync(file);
      const free = s.bavail * s.bsize;
      if (free <= leaveBytes) return;
      try {
        writeSync(fd, chunk, 0, Math.min(chunk.length, Math.max(4096, free - leaveBytes)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return;
        throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

test('a filling WAL volume stops reading before it is full; a worker started on a full volume opens and drains; nothing is lost', async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 'mqtt2pg-walvol-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mnt]);
  const workers: WorkerProcess[] = [];
  const locker = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  try {
    // A paused worker still takes in what the broker already sent (at most its Receive Maximum unacknowledged).
    const window = 100;
    const p = { ...makePipeline({ spec: { source: { receiveMaximum: window } } }), walDir: join(mnt, 'wal') };
    mkdirSync(p.walDir);
    const filler = join(mnt, 'filler');
    const before = `wvb${randomBytes(3).toString('hex')}`;
    const during = `wvd${randomBytes(3).toString('hex')}`;
    const n = 1000;

    const w1 = WorkerProcess.start(p, { args: ['--drain-timeout', '1'] });
    workers.push(w1);
    await w1.waitReady();
    assert.ok(existsSync(join(p.walDir, RESERVE_FILE)), 'the worker keeps a reserve file on its volume');

    // Acknowledged, in the WAL, not committed: the table is locked.
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE "${p.table}" IN ACCESS EXCLUSIVE MODE`);
    assert.equal((await publish(p.path, before, { count: n })).acked, n);
    await eventually(async () => assert.equal(await w1.metric('mqtt2pg_acked_total'), n), {
      what: 'the worker acknowledging the first messages',
    });

    // Something else fills the volume: below the reserve (8 MiB of 32), the worker stops reading.
    fill(filler, 2 * MiB);
    await eventually(async () => assert.equal(await w1.metric('mqtt2pg_wal_volume_low'), 1), {
      what: 'the worker seeing its volume low',
    });
    const ready = await fetch(`http://127.0.0.1:${w1.healthPort}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(await ready.text(), /the WAL volume has \d+ MiB free of 32 MiB, below its reserve of 8 MiB/);
    assert.equal((await publish(p.path, during, { count: n })).acked, n, 'the broker takes what the worker does not');
    assert.equal(await w1.metric('mqtt2pg_acked_total'), n, 'nothing more acknowledged while the volume is low');
    assert.equal(await w1.metric('mqtt2pg_backpressure'), 1);

    // The worker dies; the volume fills completely.
    w1.kill('SIGKILL');
    await w1.exited;
    fill(filler, 0);
    const full = statfsSync(mnt);
    t.diagnostic(`free on the volume before the restart: ${full.bavail * full.bsize} bytes`);
    await locker.query('COMMIT');

    // A worker on the full volume opens, drains the WAL and does not read until there is room: what the
    // broker pushes at the reconnect, before the subscription is confirmed, is at most one window.
    const w2 = WorkerProcess.start(p);
    workers.push(w2);
    await allStored(p, before, n, 30_000);
    assert.equal(w2.child.exitCode, null, w2.output.slice(-3000));
    assert.equal(await w2.metric('mqtt2pg_wal_volume_low'), 1);
    const taken = await w2.metric('mqtt2pg_acked_total');
    assert.ok(taken <= 2 * window, `the worker on a low volume acknowledged ${taken} of ${n}`);
    t.diagnostic(`acknowledged while the volume was low, at the reconnect: ${taken} of ${n}`);

    // Room again: it reads, and what the broker kept lands.
    rmSync(filler);
    await w2.waitReady();
    const a = await allStored(p, during, n, 30_000);
    assert.deepEqual(a.inSeveral, []);
    assert.ok(existsSync(join(p.walDir, RESERVE_FILE)), 'the reserve file is made again once there is room');
    assert.match(w2.output, /the WAL volume has room again: reading from the broker resumes/);
    w2.kill('SIGTERM');
    assert.equal((await w2.exited).code, 0, w2.output.slice(-3000));
  } finally {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await locker.end().catch(() => {});
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});
