// The soak: QoS 1 device traffic (valid, malformed and poison, from the fuzz corpus) into workers sharing one
// subscription, each `kill -9`ed at seeded random moments and restarted on its WAL, then the ledger: every
// acknowledged message in exactly one of table, unparseable, DLQ. `make soak` (bench/soak.ts) runs 1M messages
// and 20 kills; test/integration/worker/soak-short.test.ts runs the same code with 100k and 5.

import { randomBytes } from 'node:crypto';
import { requireEnv } from './env.ts';
import { eventually } from './eventually.ts';
import { FuzzCorpus, poisonColumnSql, prng } from './fuzz-corpus.ts';
import { withDb } from './ledger.ts';
import { publishRaw } from './raw-publisher.ts';
import { accountTopics, readTopicLedger, type TopicAccounting } from './topic-ledger.ts';
import { makePipeline, type TestPipeline, WorkerProcess } from './worker-process.ts';

export interface SoakOptions {
  count: number;
  kills: number;
  workers: number;
  seed: number;
  /** Publishes per second (paced, so the kills fall across the run). */
  rate: number;
  /** Share of the traffic that breaks the device contract (→ unparseable) and that the table refuses (→ DLQ). */
  malformedRatio: number;
  poisonRatio: number;
  /** How long to wait after the last publish for every acknowledged message to be stored. */
  settleTimeoutMs: number;
  /** Called every progressEveryMs with a line for the user. */
  onProgress?: (line: string) => void;
  progressEveryMs?: number;
}

export interface SoakResult {
  seed: number;
  count: number;
  workers: number;
  kills: number;
  killedAt: Array<{ worker: number; published: number; elapsedMs: number }>;
  published: number;
  acknowledged: number;
  refused: number;
  publisherReconnects: number;
  stored: number;
  table: number;
  unparseable: number;
  dlq: number;
  lost: number;
  lostExamples: number[];
  inSeveral: number;
  duplicates: number;
  storedUnacknowledged: number;
  publishMs: number;
  settleMs: number;
  elapsedMs: number;
  workerExitCodes: Array<number | null>;
}

const MALFORMED = [
  'topic-bad-tenant',
  'topic-bad-device',
  'topic-shape',
  'payload-text',
  'payload-binary',
  'payload-invalid-utf8',
];

/** The soak's traffic mix as fuzz-corpus weights (parts per million). */
export function soakWeights(o: Pick<SoakOptions, 'malformedRatio' | 'poisonRatio'>): Record<string, number> {
  const w: Record<string, number> = {
    valid: 1e6 * (1 - o.malformedRatio - o.poisonRatio),
    'poison-range': 1e6 * o.poisonRatio,
  };
  for (const m of MALFORMED) w[m] = (1e6 * o.malformedRatio) / MALFORMED.length;
  return w;
}

const fmt = (n: number) => n.toLocaleString('en-US');
const secs = (ms: number) => `${Math.round(ms / 1000)}s`;

async function countRows(p: TestPipeline): Promise<{ table: number; unparseable: number }> {
  return withDb(async (c) => {
    const r = await c.query<{ t: string; u: string }>(
      `SELECT (SELECT count(*) FROM "${p.table}") AS t, (SELECT count(*) FROM "${p.unparseableTable}") AS u`,
    );
    return { table: Number(r.rows[0]?.t), unparseable: Number(r.rows[0]?.u) };
  });
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const started = Date.now();
  const rnd = prng(o.seed ^ 0x5eed);
  const id = randomBytes(4).toString('hex');
  const path = `sk${id}`;
  const p = makePipeline({ tag: 'sk', id, spec: { source: { topicFilter: `+/+/+/+/+/${path}/#` } } });
  const place = (i: number): TestPipeline => ({ ...p, walDir: `${p.walDir}-${i}` });
  const start = (i: number) => WorkerProcess.start(place(i), { instance: `${p.name}-${i}` });
  const workers = Array.from({ length: o.workers }, (_, i) => start(i));
  await Promise.all(workers.map((w) => w.waitReady()));
  await withDb((c) => c.query(poisonColumnSql(p.table)));

  const runId = `s${id}`;
  const corpus = new FuzzCorpus({
    seed: o.seed,
    runId,
    path,
    categories: Object.keys(soakWeights(o)),
    weights: soakWeights(o),
  });
  // Kill moments: seeded points of the publishing, each on a seeded worker.
  const plan = Array.from({ length: o.kills }, () => ({
    at: Math.floor(rnd() * o.count * 0.95),
    worker: Math.floor(rnd() * o.workers),
  })).sort((a, b) => a.at - b.at);
  const killedAt: SoakResult['killedAt'] = [];
  const live = { sent: 0, acked: 0, refused: 0, reconnects: 0 };
  let publishing = true;
  let stored = { table: 0, unparseable: 0 };

  const progress = setInterval(async () => {
    try {
      stored = await countRows(p);
    } catch {}
    const done = stored.table + stored.unparseable;
    const elapsed = Date.now() - started;
    const eta = publishing
      ? ((o.count - live.sent) / o.rate) * 1000
      : Math.max(0, live.acked - done) / Math.max(0.001, done / elapsed);
    o.onProgress?.(
      `published ${fmt(live.sent)}/${fmt(o.count)} acked ${fmt(live.acked)} stored ${fmt(done)} (table+unparseable) kills ${killedAt.length}/${o.kills} elapsed ${secs(elapsed)} ETA ${publishing ? '' : 'settle '}${secs(eta)}`,
    );
  }, o.progressEveryMs ?? 5000);

  const killing = (async () => {
    for (const k of plan) {
      await eventually(
        async () => {
          if (live.sent < k.at && publishing) throw new Error(`published ${live.sent} < ${k.at}`);
        },
        { timeoutMs: 24 * 3600_000, intervalMs: 20 },
      );
      const w = workers[k.worker] as WorkerProcess;
      w.kill('SIGKILL');
      await w.exited;
      killedAt.push({ worker: k.worker, published: live.sent, elapsedMs: Date.now() - started });
      const next = start(k.worker);
      workers[k.worker] = next;
      await next.waitReady(60_000);
    }
  })();

  const publishStart = Date.now();
  try {
    const pub = await publishRaw(
      { url: requireEnv('MQTT_URL'), username: requireEnv('MQTT_USERNAME'), password: requireEnv('MQTT_PASSWORD') },
      o.count,
      (n) => corpus.next(n),
      { rate: o.rate, inflight: 1000, live },
    );
    publishing = false;
    const publishMs = Date.now() - publishStart;
    await killing;

    // Settle: rows first (cheap), then the full ledger until nothing acknowledged is missing.
    const settleStart = Date.now();
    let a: TopicAccounting | undefined;
    await eventually(
      async () => {
        const r = await countRows(p);
        if (r.table + r.unparseable < pub.acked * (1 - o.poisonRatio) - 10) throw new Error('rows still arriving');
        a = accountTopics(await readTopicLedger(p, runId, o.count), pub.ackMap);
        if (a.lost.length > 0) throw new Error(`${a.lost.length} acknowledged messages not (yet) stored`);
      },
      { timeoutMs: o.settleTimeoutMs, intervalMs: 2000, what: 'every acknowledged soak message stored' },
    ).catch(async () => {
      a = accountTopics(await readTopicLedger(p, runId, o.count), pub.ackMap);
    });
    const settleMs = Date.now() - settleStart;
    for (const w of workers) w.kill('SIGTERM');
    const exits = await Promise.all(workers.map((w) => w.exited));
    const acc = a as TopicAccounting;
    // A million rows a run would pile up in the shared database; a run that lost something keeps them to look at.
    if (acc.lost.length === 0 && acc.inSeveral.length === 0)
      await withDb((c) => c.query(`DROP TABLE "${p.table}", "${p.unparseableTable}"`));
    return {
      seed: o.seed,
      count: o.count,
      workers: o.workers,
      kills: killedAt.length,
      killedAt,
      published: pub.sent,
      acknowledged: acc.acknowledged,
      refused: pub.refused,
      publisherReconnects: pub.reconnects,
      stored: acc.stored,
      table: acc.byPlace.table,
      unparseable: acc.byPlace.unparseable,
      dlq: acc.byPlace.dlq,
      lost: acc.lost.length,
      lostExamples: acc.lost.slice(0, 20),
      inSeveral: acc.inSeveral.length,
      duplicates: acc.duplicates,
      storedUnacknowledged: acc.storedUnacknowledged,
      publishMs,
      settleMs,
      elapsedMs: Date.now() - started,
      workerExitCodes: exits.map((e) => e.code),
    };
  } finally {
    clearInterval(progress);
    publishing = false;
  }
}
