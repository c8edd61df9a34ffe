// Untrusted device traffic against real Mosquitto, PgBouncer, PostgreSQL and MinIO: a seeded fuzz corpus
// (test/lib/fuzz-corpus.ts) published with QoS 1; every message the broker acknowledged is in exactly one of
// the table, the unparseable table and the DLQ, and the categories with a fixed destination are there.
// Reproduce a failure with the seed it prints: FUZZ_SEED=<seed> [FUZZ_CATEGORIES=a,b | -a,-b] [FUZZ_COUNT=n]
// [FUZZ_HUGE_BYTES=n].

import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, test } from 'node:test';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { CATEGORIES, type Category, FuzzCorpus, poisonColumnSql, selectCategories } from '../../lib/fuzz-corpus.ts';
import { withDb } from '../../lib/ledger.ts';
import { publishRaw } from '../../lib/raw-publisher.ts';
import { accountTopics, placesOf, readTopicLedger, type TopicLedger } from '../../lib/topic-ledger.ts';
import { cleanupDirs, makePipeline, WorkerProcess } from '../../lib/worker-process.ts';

after(cleanupDirs);

interface CategoryOutcome {
  sent: number;
  acked: number;
  refused: number;
  table: number;
  unparseable: number;
  dlq: number;
  lost: number;
  elsewhere: string[];
  refusal?: string | undefined;
}

const newOutcome = (): CategoryOutcome => ({
  sent: 0,
  acked: 0,
  refused: 0,
  table: 0,
  unparseable: 0,
  dlq: 0,
  lost: 0,
  elsewhere: [],
});

/** Per category: what was sent and acknowledged, and where the acknowledged messages are. */
function outcomes(categories: Category[], acked: Uint8Array, l: TopicLedger, refusals: Map<number, string>) {
  const by = new Map<string, CategoryOutcome>(CATEGORIES.map((c) => [c.name, newOutcome()]));
  for (let n = 0; n < categories.length; n++) {
    const c = categories[n] as Category;
    const o = by.get(c.name) as CategoryOutcome;
    o.sent++;
    if (!acked[n]) {
      o.refused++;
      o.refusal ??= refusals.get(n);
      continue;
    }
    o.acked++;
    const places = placesOf(l, n);
    if (places.length === 0) o.lost++;
    for (const p of places) o[p]++;
    if (c.expect !== 'any' && places.length === 1 && places[0] !== c.expect) {
      const why = places[0] === 'unparseable' ? l.reasons.get(n) : places[0] === 'dlq' ? l.sqlstates.get(n) : '';
      if (o.elsewhere.length < 3) o.elsewhere.push(`#${n} in ${places[0]} (${why})`);
    }
  }
  return [...by].filter(([, o]) => o.sent > 0);
}

test('10k fuzzed messages (topics, payloads, user properties) each land in exactly one of table, unparseable, DLQ', async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? randomInt(2 ** 31));
  const names = selectCategories(process.env.FUZZ_CATEGORIES);
  const count = Number(process.env.FUZZ_COUNT ?? 10_000);
  const repro = `FUZZ_SEED=${seed}${process.env.FUZZ_CATEGORIES ? ` FUZZ_CATEGORIES=${process.env.FUZZ_CATEGORIES}` : ''}`;
  t.diagnostic(`fuzz seed ${seed}: reproduce with ${repro}`);
  const id = randomBytes(4).toString('hex');
  const path = `fz${id}`;
  // As wide as the corpus's topics (five levels of anything before the pipeline's own), not just the contract.
  const p = makePipeline({ tag: 'fz', id, spec: { source: { topicFilter: `+/+/+/+/+/${path}/#` } } });
  const w = WorkerProcess.start(p);
  await w.waitReady();
  await withDb((c) => c.query(poisonColumnSql(p.table)));

  const runId = `f${id}`;
  const hugeBytes = process.env.FUZZ_HUGE_BYTES ? Number(process.env.FUZZ_HUGE_BYTES) : undefined;
  const corpus = new FuzzCorpus({ seed, runId, path, categories: names, ...(hugeBytes ? { hugeBytes } : {}) });
  const categories: Category[] = [];
  const started = Date.now();
  const pub = await publishRaw(
    { url: requireEnv('MQTT_URL'), username: requireEnv('MQTT_USERNAME'), password: requireEnv('MQTT_PASSWORD') },
    count,
    (n) => {
      const m = corpus.next(n);
      categories.push(m.category);
      return { ...m, wireInvalid: m.category.wireInvalid ?? false };
    },
    { inflight: 200 },
  );
  t.diagnostic(`published ${count} in ${Date.now() - started} ms: ${pub.acked} acknowledged, ${pub.refused} refused`);

  let l: TopicLedger | undefined;
  const a = await eventually(
    async () => {
      l = await readTopicLedger(p, runId, count, { reasons: true });
      const a = accountTopics(l, pub.ackMap);
      if (a.lost.length > 0) throw new Error(`${a.lost.length} acknowledged messages not (yet) stored`);
      return a;
    },
    { timeoutMs: 45_000, intervalMs: 1000, what: 'every acknowledged fuzz message stored' },
  ).catch((err) => {
    if (!l) throw err;
    return accountTopics(l, pub.ackMap);
  });
  const by = outcomes(categories, pub.ackMap, l as TopicLedger, pub.refusals);
  const table = by.map(
    ([name, o]) =>
      `${name.padEnd(28)} sent ${String(o.sent).padStart(5)} acked ${String(o.acked).padStart(5)} → table ${o.table} unparseable ${o.unparseable} dlq ${o.dlq} lost ${o.lost}${o.refusal ? ` (refused: ${o.refusal})` : ''}${o.elsewhere.length ? `  UNEXPECTED ${o.elsewhere.join(', ')}` : ''}`,
  );
  for (const line of table) t.diagnostic(line);
  t.diagnostic(
    `acknowledged ${a.acknowledged}, stored once ${a.stored} (table ${a.byPlace.table}, unparseable ${a.byPlace.unparseable}, dlq ${a.byPlace.dlq}), lost ${a.lost.length}, in several places ${a.inSeveral.length}, duplicates ${a.duplicates}`,
  );

  if (a.lost.length > 0) {
    // What the worker said about it: the errors it retried or gave up on.
    const said = w.output.split('\n').filter((line) => /"level":"(warn|error|fatal)"/.test(line));
    for (const line of said.slice(-5)) t.diagnostic(`worker: ${line.slice(0, 400)}`);
  }
  const failing = by.filter(([, o]) => o.lost > 0 || o.elsewhere.length > 0).map(([name]) => name);
  const hint = `categories failing: ${failing.join(', ') || 'none'}; reproduce with ${repro}`;
  assert.ok(a.acknowledged >= count * 0.9, `only ${a.acknowledged} of ${count} acknowledged; ${hint}`);
  assert.deepEqual(a.lost.slice(0, 20), [], `${a.lost.length} acknowledged messages lost; ${hint}`);
  assert.deepEqual(a.inSeveral.slice(0, 20), [], `messages in more than one place; ${hint}`);
  assert.deepEqual(failing, [], `messages away from their category's place; ${hint}`);
  w.kill('SIGTERM');
  assert.equal((await w.exited).code, 0, w.output.slice(-3000));
});
