// An Ephemeral WAL (a Deployment pod's emptyDir) is deleted with its pod. A worker that cannot drain into
// PostgreSQL before its grace period ends spills the rest of its WAL to the pipeline's bucket, and any
// worker of the pipeline replays the spill objects into its own WAL. Against real Mosquitto, PostgreSQL
// (stopped for the outage) and MinIO; the loss is read from the publisher's ledger.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import pg from 'pg';
import { ENV } from '../../../api/contract.ts';
import { loadSinglePipeline } from '../../../api/load-pipeline.ts';
import { STOP_MARGIN_SECONDS, spillSeconds } from '../../../api/shutdown.ts';
import { createLogger } from '../../../common/logger.ts';
import { WorkerMetrics } from '../../../worker/metrics.ts';
import { spillFolder } from '../../../worker/spill-format.ts';
import { SpillReplayer } from '../../../worker/spill-replay.ts';
import { SpillStore } from '../../../worker/spill-store.ts';
import { Wal } from '../../../worker/wal.ts';
import { command, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { allStored, s3Client } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import { cleanupDirs, makePipeline, type TestPipeline, WorkerProcess } from '../../lib/worker-process.ts';

const DRAIN_SECONDS = 6;
const DLQ_ROOT = 'spill/';

const service = async (action: 'stop' | 'start', name: string) => {
  const r = await command('test/env/service.sh', [action, name]);
  assert.equal(r.code, 0, `${action} ${name}: ${r.stderr}`);
};

after(async () => {
  for (const s of ['postgres', 'minio']) await command('test/env/service.sh', ['start', s]);
  cleanupDirs();
});

const ephemeralPipeline = (sizeLimit = '1Gi') =>
  makePipeline({
    tag: 'spill',
    dlq: DLQ_ROOT,
    spec: {
      wal: { sizeLimit, storage: { type: 'Ephemeral' } },
      flusher: { retry: { initialBackoff: '100ms', maxBackoff: '1s' } },
    },
  });

/** Keys under the pipeline's spill folder, claims included. */
async function spillKeys(p: TestPipeline): Promise<string[]> {
  const s3 = s3Client();
  try {
    const r = await s3.send(
      new ListObjectsV2Command({ Bucket: requireEnv('S3_BUCKET'), Prefix: spillFolder(DLQ_ROOT, p.name) }),
    );
    return (r.Contents ?? []).map((o) => o.Key as string);
  } finally {
    s3.destroy();
  }
}

/**
 * Waits until PostgreSQL answers through PgBouncer, which refuses logins for server_login_retry after an
 * outage: a worker started before that fails its startup check (in a pod it would restart).
 */
async function throughPgBouncer() {
  await eventually(
    async () => {
      const c = new pg.Client({ connectionString: requireEnv('PGBOUNCER_URL') });
      try {
        await c.connect();
        await c.query('SELECT 1');
      } finally {
        await c.end().catch(() => {});
      }
    },
    { timeoutMs: 60_000, intervalMs: 500, what: 'PostgreSQL answering through PgBouncer' },
  );
}

/** allStored, failing with the worker's log tail (what it replayed, or why not). */
const storedBy = (w: WorkerProcess, p: TestPipeline, runId: string, count: number) =>
  allStored(p, runId, count, 60_000).catch((err: Error) => {
    throw new Error(`${err.message}\nworker log:\n${w.output.slice(-4000)}`);
  });

/** A worker as in an Ephemeral pod: its own instance (pod name), a session that ends with it. */
const startWorker = (p: TestPipeline, instance: string, walDir = p.walDir) =>
  WorkerProcess.start(
    { ...p, walDir },
    { instance, args: ['--drain-timeout', String(DRAIN_SECONDS)], env: { [ENV.identity]: 'ephemeral' } },
  );

/**
 * PostgreSQL (and `alsoDown`) down, `count` messages acknowledged into a fresh worker's WAL, then SIGTERM:
 * the worker must exit 0 within its drain + spill budget. Its WAL directory is then deleted, as an emptyDir
 * is with its pod.
 */
async function stopWithBacklog(p: TestPipeline, runId: string, count: number, alsoDown: string[] = []) {
  const w = startWorker(p, `${p.name}-a`);
  await w.waitReady();
  // The worker's own deadline (drain + spill), and the pod's SIGKILL a margin after it (api/shutdown.ts).
  const budgetMs = (DRAIN_SECONDS + spillSeconds(loadSinglePipeline(p.file).resolved)) * 1000;
  const killAtMs = budgetMs + STOP_MARGIN_SECONDS * 1000;
  let exitMs = 0;
  const down = ['postgres', ...alsoDown];
  for (const s of down) await service('stop', s);
  try {
    const summary = await publish(p.path, runId, { count, devices: 20, tenants: 2, inflight: 200 });
    assert.equal(summary.acked, count, 'the broker took every publish');
    await eventually(async () => assert.equal(await w.metric('mqtt2pg_wal_messages'), count), {
      what: 'every acknowledged message waiting in the WAL',
    });
    const stopAt = Date.now();
    w.kill('SIGTERM');
    const exit = await w.exited;
    exitMs = Date.now() - stopAt;
    assert.equal(exit.code, 0, w.output.slice(-3000));
    assert.ok(exitMs < killAtMs, `exited ${exitMs} ms after SIGTERM; a pod's SIGKILL comes at ${killAtMs} ms`);
  } finally {
    for (const s of down) await service('start', s);
  }
  await throughPgBouncer();
  rmSync(p.walDir, { recursive: true, force: true });
  return { exitMs, budgetMs, output: w.output, objects: await spillKeys(p) };
}

test('an Ephemeral worker that cannot drain (PostgreSQL down) spills its WAL at SIGTERM; another worker replays it: nothing lost', async (t) => {
  const p = ephemeralPipeline();
  const runId = `spill${randomBytes(3).toString('hex')}`;
  const count = 6000;
  const stopped = await stopWithBacklog(p, runId, count);

  // A second worker of the pipeline (another pod) finds the spill objects and stores every message.
  const w2 = startWorker(p, `${p.name}-b`, join(p.dir, 'wal-b'));
  const a = await storedBy(w2, p, runId, count);
  assert.deepEqual(a.inSeveral, []);
  assert.ok(stopped.objects.length > 0, `the stopping worker left spill objects:\n${stopped.output.slice(-3000)}`);
  assert.equal(await w2.metric('mqtt2pg_spill_replayed_messages_total'), count);
  await eventually(async () => assert.deepEqual(await spillKeys(p), []), {
    what: 'the replayed spill objects and their claims deleted',
  });
  t.diagnostic(
    `${count} acknowledged, PostgreSQL down at SIGTERM: exited after ${stopped.exitMs} ms with ${stopped.objects.length} spill object(s); replayed by another worker: all stored, ${a.duplicates} duplicates`,
  );
  w2.kill('SIGTERM');
  assert.equal((await w2.exited).code, 0);
});

test('a replay interrupted after the append and before the delete loses nothing: the restarted worker replays the object again', async (t) => {
  const p = ephemeralPipeline();
  const runId = `spillcrash${randomBytes(3).toString('hex')}`;
  const count = 3000;
  const stopped = await stopWithBacklog(p, runId, count);
  assert.ok(stopped.objects.length > 0, stopped.output.slice(-3000));

  // Worker "b" replays one step at a time and dies after its WAL append (fsynced), before deleting the
  // object: the crash point, reached in process against the real bucket and WAL.
  const instance = `${p.name}-b`;
  const walDir = join(p.dir, 'wal-b');
  const wal = await Wal.open({ dir: walDir, sizeLimitBytes: 2 ** 30, retentionMs: 3_600_000 });
  const store = new SpillStore(
    {
      endpoint: requireEnv('S3_ENDPOINT'),
      region: requireEnv('S3_REGION'),
      forcePathStyle: true,
      credentials: {
        accessKeyId: requireEnv('S3_ACCESS_KEY_ID'),
        secretAccessKey: requireEnv('S3_SECRET_ACCESS_KEY'),
      },
    },
    requireEnv('S3_BUCKET'),
  );
  const replayer = new SpillReplayer(
    store,
    { prefix: DLQ_ROOT, pipeline: p.name, instance },
    { wal, metrics: new WorkerMetrics(p.name, () => wal), log: createLogger('silent') },
  );
  let appended = 0;
  for (let job = await replayer.claimNext(); job; job = await replayer.claimNext()) {
    await replayer.append(job);
    appended += job.messages.length;
  }
  await wal.close();
  store.close();
  assert.equal(appended, count);
  const left = await spillKeys(p);
  assert.ok(
    left.some((k) => k.includes('/claims/')),
    `the crashed replay left its objects and claims: ${left.join(', ')}`,
  );

  // The container restarts in the same pod (same name, same emptyDir): it replays its WAL, takes its own
  // claims over and replays the objects again. Duplicates, no loss.
  const w = startWorker(p, instance, walDir);
  const a = await storedBy(w, p, runId, count);
  assert.deepEqual(a.inSeveral, []);
  await eventually(async () => assert.deepEqual(await spillKeys(p), []), {
    what: 'the spill objects and claims deleted after the second replay',
  });
  assert.ok(a.duplicates <= count, `${a.duplicates} duplicates: at most one extra copy of each message`);
  t.diagnostic(
    `${count} acknowledged and spilled; the first replay died after its append: all stored, ${a.duplicates} duplicates`,
  );
  w.kill('SIGTERM');
  assert.equal((await w.exited).code, 0);
});

test('PostgreSQL and the bucket both down: the worker holds its stop to the end of its budget and logs exactly what is lost', async (t) => {
  // A 16Mi WAL: a 6 s spill window (api/shutdown.ts), so the held stop stays short.
  const p = ephemeralPipeline('16Mi');
  const runId = `spilldown${randomBytes(3).toString('hex')}`;
  const count = 2000;
  const stopped = await stopWithBacklog(p, runId, count, ['minio']);
  assert.ok(
    stopped.exitMs >= stopped.budgetMs - 1500,
    `held the stop ${stopped.exitMs} ms of its ${stopped.budgetMs} ms budget, retrying the spill`,
  );
  const lost = stopped.output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; msg: string; messages?: number; bytes?: number })
    .find((l) => l.level === 'error' && /lost with this pod/.test(l.msg));
  assert.ok(lost, stopped.output.slice(-3000));
  assert.equal(lost.messages, count);
  assert.ok((lost.bytes ?? 0) > count * 200, `${lost.bytes} bytes reported`);
  assert.deepEqual(stopped.objects, [], 'nothing reached the bucket');
  t.diagnostic(
    `exited after ${stopped.exitMs} ms (budget ${stopped.budgetMs} ms); logged: ${lost.msg} (${lost.messages} messages, ${lost.bytes} bytes)`,
  );
});
