// A worker that starts while PostgreSQL is down (a pod replaced or rolled during an outage) stays up: it
// takes messages into its WAL, reports why it is not ready, creates its tables once PostgreSQL answers and
// flushes. Before, it exited 1 at the startup check and crash-looped through the outage (a kubelet backs a
// crash loop off to 5 minutes, so it came back up to 5 minutes after the database). A configuration mistake
// (a wrong password) still stops it at once with the reason.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { command } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { allStored } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import { cleanupDirs, makePipeline, WorkerProcess } from '../../lib/worker-process.ts';

const service = async (action: 'stop' | 'start', name: string) => {
  const r = await command('test/env/service.sh', [action, name]);
  assert.equal(r.code, 0, `${action} ${name}: ${r.stderr}`);
};

after(async () => {
  await command('test/env/service.sh', ['start', 'postgres']);
  cleanupDirs();
});

describe('worker started during a PostgreSQL outage', () => {
  test('it takes messages into its WAL, says why it is not ready, and flushes once PostgreSQL is back', async (t) => {
    const p = makePipeline({ spec: { flusher: { retry: { initialBackoff: '100ms', maxBackoff: '1s' } } } });
    const runId = `startdown${randomBytes(3).toString('hex')}`;
    const count = 2000;
    await service('stop', 'postgres');
    let w: WorkerProcess | undefined;
    try {
      w = WorkerProcess.start(p);
      const worker = w;
      await eventually(
        async () => {
          assert.equal(worker.child.exitCode, null, `the worker stays up:\n${worker.output}`);
          const r = await fetch(`http://127.0.0.1:${worker.healthPort}/readyz`);
          assert.equal(r.status, 503);
          assert.match(await r.text(), /PostgreSQL/);
        },
        { timeoutMs: 30_000, what: 'the worker up and not ready, naming PostgreSQL' },
      );
      // A new pipeline has no broker session yet: publish once the worker has subscribed.
      await eventually(async () => assert.equal(await worker.metric('mqtt2pg_broker_connected'), 1), {
        timeoutMs: 30_000,
        what: 'the worker subscribed although PostgreSQL is down',
      });
      const summary = await publish(p.path, runId, { count, rate: 1000, devices: 10, tenants: 1, inflight: 100 });
      assert.equal(summary.acked, count);
      await eventually(async () => assert.ok((await worker.metric('mqtt2pg_wal_messages')) >= count), {
        timeoutMs: 30_000,
        what: 'the WAL holding every message while PostgreSQL is down',
      });
    } finally {
      await service('start', 'postgres');
    }
    const a = await allStored(p, runId, count);
    await w.waitReady();
    t.diagnostic(`all ${count} stored after PostgreSQL came back, ${a.duplicates} duplicates`);
    w.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);
  });

  test('a wrong password still stops it at once, naming the Secret', async () => {
    const p = makePipeline();
    writeFileSync(join(p.secretsDir, 'pg', 'password'), 'not-the-password');
    const w = WorkerProcess.start(p);
    const exit = await w.exited;
    assert.equal(exit.code, 1);
    assert.match(w.output, /refused the credentials from Secret/);
  });
});
