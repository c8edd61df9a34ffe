import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkJson, checkPayloadSize } from './payload-limits.ts';

const limits = { maxPayloadSizeBytes: 256 * 1024, maxJsonDepth: 4 };
const reasonOf = (json: string) => checkJson(json, limits)?.reason;

test('a payload over maxPayloadSize names the limit and the size', () => {
  assert.equal(checkPayloadSize(256 * 1024, limits), undefined, 'at the limit is fine');
  assert.deepEqual(checkPayloadSize(300 * 1024, limits), {
    reason: 'payload_too_large',
    detail: 'payload is 307200 bytes, over spec.limits.maxPayloadSize 256Ki',
  });
});

test('nesting is counted over arrays and objects, outside strings only', () => {
  assert.equal(reasonOf('[[[[1]]]]'), undefined, 'four levels at a limit of four');
  assert.equal(reasonOf('{"a":{"b":[{"c":1}]}}'), undefined);
  assert.equal(reasonOf('{"s":"[[[[[[[[{{{{"}'), undefined, 'brackets inside strings do not nest');
  assert.equal(reasonOf('{"s":"\\"[[[[[[["}'), undefined, 'an escaped quote does not end the string');
  assert.equal(reasonOf('[[],[],[[],[[]]],{}]'), undefined, 'siblings do not add up');
  assert.deepEqual(checkJson('{"a":[[[[1]]]]}', limits), {
    reason: 'json_too_deep',
    detail: 'JSON nests 5 levels deep, over spec.limits.maxJsonDepth 4',
  });
});

test('escapes jsonb cannot store: \\u0000 and lone surrogates; a valid pair and other escapes pass', () => {
  assert.equal(reasonOf('"\\u0000"'), 'json_unsupported_escape');
  assert.equal(reasonOf('{"k\\u0000":1}'), 'json_unsupported_escape', 'in a key too');
  assert.match(checkJson('"a\\u0000b"', limits)?.detail ?? '', /\\u0000, which PostgreSQL jsonb cannot store/);
  assert.match(checkJson('"\\ud800"', limits)?.detail ?? '', /lone surrogate \\ud800/);
  assert.match(checkJson('"\\uDC00x"', limits)?.detail ?? '', /lone surrogate \\udc00/);
  assert.match(checkJson('"\\ud800\\u0041"', limits)?.detail ?? '', /lone surrogate \\ud800/);
  assert.match(checkJson('"\\udc00\\ud800"', limits)?.detail ?? '', /lone surrogate \\udc00/, 'a reversed pair');
  assert.equal(reasonOf('"\\ud83d\\ude00 \\u00e9 \\u0001 \\\\u0000 \\n \\/"'), undefined);
  assert.equal(reasonOf('"\\\\"'), undefined, 'an escaped backslash before the closing quote');
});

test('depth is reported before an escape (it is what the operator tunes)', () => {
  assert.equal(reasonOf('[[[[["\\u0000"]]]]]'), 'json_too_deep');
});

test('what JSON.parse accepts and these checks pass, PostgreSQL stores (no escape is misread)', () => {
  // Fixed cases, then random strings over the characters that matter (seeded: a failure reproduces).
  const alphabet = [
    '\u0000',
    '\ud800',
    '\udbff',
    '\udc00',
    '\udfff',
    '"',
    '\\',
    'u',
    '0',
    '\n',
    '\u0001',
    'é',
    'x',
    '[',
    '\ud83d',
    '\ude00',
  ];
  let seed = 12345;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  const random = Array.from({ length: 3000 }, () =>
    Array.from({ length: next() % 8 }, () => alphabet[next() % alphabet.length]).join(''),
  );
  for (const s of ['\u0000', '\ud800', 'a\udc00', '\ud83d\ude00', '\\u0000', '"\\', 'é\n\t\u0001', ...random]) {
    const text = JSON.stringify({ s, k: [s] });
    // The same JSON with every non-ASCII character written as an escape: valid pairs become escape pairs.
    const ascii = text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const refused = s.includes('\u0000') || !s.isWellFormed();
    assert.equal(reasonOf(text) === 'json_unsupported_escape', refused, JSON.stringify(s));
    assert.equal(reasonOf(ascii) === 'json_unsupported_escape', refused, ascii);
  }
});

test('the scan is linear: 256 KiB of short strings, or of escapes, is checked in milliseconds', () => {
  const manyStrings = JSON.stringify(Array.from({ length: 30_000 }, (_, i) => `s${i}`)).concat('\\');
  const manyEscapes = JSON.stringify({ s: '\n"\\'.repeat(40_000) });
  for (const text of [manyStrings.slice(0, -1), manyEscapes, `${manyStrings.slice(0, -2)},"\\n"]`]) {
    const started = performance.now();
    assert.equal(checkJson(text, { maxPayloadSizeBytes: 2 ** 20, maxJsonDepth: 4 }), undefined);
    const ms = performance.now() - started;
    assert.ok(ms < 200, `${text.length} characters took ${ms.toFixed(1)} ms`);
  }
});
