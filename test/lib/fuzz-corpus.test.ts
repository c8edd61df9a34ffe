import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InboundMessage } from '../../worker/message.ts';
import { type Row, toRow } from '../../worker/rows.ts';
import { CATEGORIES, FuzzCorpus, type FuzzMessage, selectCategories } from './fuzz-corpus.ts';
import { pipeline } from './pipelines.ts';

const corpus = (seed: number, categories?: string[]) =>
  new FuzzCorpus({ seed, runId: 'run1', path: 'fz', hugeBytes: 4096, ...(categories ? { categories } : {}) });
const take = (c: FuzzCorpus, k: number) => Array.from({ length: k }, (_, n) => c.next(n));

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** What MQTT 5 allows in a UTF-8 string (topic, property): well-formed, no NUL, no C0/C1 controls. */
function mqttString(b: Buffer): boolean {
  let s: string;
  try {
    s = utf8.decode(b);
  } catch {
    return false;
  }
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return false;
  }
  return true;
}

test('the same seed gives the same corpus byte for byte; another seed another one', () => {
  const a = take(corpus(42), 2000);
  const b = take(corpus(42), 2000);
  const c = take(corpus(43), 2000);
  const key = (m: FuzzMessage) =>
    [m.category.name, m.topic.toString('hex'), m.payload.toString('hex'), JSON.stringify(m.userProperties)].join('|');
  assert.deepEqual(a.map(key), b.map(key));
  assert.notDeepEqual(a.map(key), c.map(key));
});

test('every category is generated, and each message carries its id as a topic level', () => {
  const ms = take(corpus(7), 20_000);
  const seen = new Set(ms.map((m) => m.category.name));
  assert.deepEqual([...seen].sort(), CATEGORIES.map((c) => c.name).sort());
  for (const m of ms) {
    const topic = m.topic.toString('latin1');
    assert.ok(topic.includes(`/fz/run1-${m.n}/`), `${m.category.name}: id of ${m.n} in ${topic.slice(0, 120)}`);
    assert.equal(topic.split('/')[5], 'fz', `${m.category.name}: sixth level is the pipeline's path`);
  }
});

test('only wire-invalid categories break MQTT 5 strings; the rest fit a PUBLISH', () => {
  for (const m of take(corpus(11), 20_000)) {
    const strings = [m.topic, ...m.userProperties.flat()];
    const valid = strings.every(mqttString) && m.topic.length <= 0xffff;
    assert.equal(valid, !m.category.wireInvalid, `${m.category.name}: ${m.topic.toString('latin1').slice(0, 80)}`);
    if (!m.category.wireInvalid) assert.doesNotMatch(m.topic.toString(), /[+#]/, 'no wildcards in a topic name');
  }
});

test("the worker's contract check sends table and unparseable categories where the corpus says", () => {
  // With a default pipeline's limits, where the worker has them (spec.limits): they are toRow's third argument.
  const limits = (pipeline().r as unknown as { limits?: unknown }).limits;
  const classify = toRow as (m: InboundMessage, format: 'json', limits: unknown) => Row;
  for (const m of take(corpus(5), 20_000)) {
    if (m.category.wireInvalid || (m.category.expect !== 'table' && m.category.expect !== 'unparseable')) continue;
    const row = classify(
      { topic: m.topic.toString(), payload: m.payload, receivedAt: 0, qos: 1, dup: false },
      'json',
      limits,
    );
    const kind = row.kind === 'telemetry' ? 'table' : 'unparseable';
    assert.equal(kind, m.category.expect, `${m.category.name}: ${row.kind === 'unparseable' ? row.detail : ''}`);
  }
});

test('categories are chosen by name or excluded with a leading "-"; an unknown name says which exist', () => {
  assert.equal(selectCategories(undefined).length, CATEGORIES.length);
  assert.deepEqual(selectCategories('valid, json-deep'), ['valid', 'json-deep']);
  assert.equal(selectCategories('-json-deep,-payload-huge-json').length, CATEGORIES.length - 2);
  assert.throws(() => selectCategories('valid,nope'), /unknown fuzz category "nope"; known: valid, /);
  const only = take(corpus(3, ['payload-empty']), 50);
  assert.ok(only.every((m) => m.category.name === 'payload-empty' && m.payload.length === 0));
});
