import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ColumnType, TimestampFormat } from '../api/types.ts';
import { convert } from './columns.ts';

const limits = { maxPayloadSizeBytes: 1024, maxJsonDepth: 4 };
const c = (v: unknown, type: ColumnType, format?: TimestampFormat) => {
  const r = convert(v, type, format, limits);
  return r.ok ? r.text : `!${r.why}`;
};

test('integers: JSON numbers and integer strings within each type, nothing past 2^53 from a JSON number', () => {
  assert.equal(c(32767, 'smallint'), '32767');
  assert.equal(c(32768, 'smallint'), '!out of the smallint range -32768..32767');
  assert.equal(c('-2147483648', 'integer'), '-2147483648');
  assert.equal(c(2147483648, 'integer'), '!out of the integer range -2147483648..2147483647');
  assert.equal(c('9223372036854775807', 'bigint'), '9223372036854775807');
  assert.equal(c('9223372036854775808', 'bigint').startsWith('!out of the bigint range'), true);
  assert.equal(c(2 ** 60, 'bigint'), '!past 2^53, where a JSON number loses digits; send it as a string');
  assert.equal(c(1.5, 'integer'), '!not integer (not a whole number)');
  assert.equal(c('abc', 'integer'), '!not integer');
  assert.equal(c(true, 'integer'), '!not integer');
});

test('floating point and numeric: ranges PostgreSQL enforces, strings accepted', () => {
  assert.equal(c(21.5, 'double precision'), '21.5');
  assert.equal(c('21.5', 'double precision'), '21.5');
  assert.equal(c('abc', 'double precision'), '!not double precision');
  assert.equal(c(1e39, 'real'), '!out of the real range');
  assert.equal(c(1e-50, 'real'), '!too close to 0 for real');
  assert.equal(c('1e400', 'double precision'), '!out of the double precision range');
  assert.equal(c('NaN', 'real'), 'NaN');
  assert.equal(c('12345678901234567890.123', 'numeric'), '12345678901234567890.123');
  assert.equal(c({}, 'numeric'), '!not numeric');
});

test('text, uuid, boolean, bytea: what PostgreSQL text cannot hold is refused, COPY escapes applied', () => {
  assert.equal(c('a\tb\\c', 'text'), 'a\\tb\\\\c');
  assert.equal(c(42, 'text'), '42');
  assert.equal(c({ a: 1 }, 'text'), '{"a":1}');
  assert.equal(c('a\u0000b', 'text'), '!holds the character U+0000, which PostgreSQL text cannot store');
  assert.equal(c('a\ud800b', 'text'), '!holds a lone UTF-16 surrogate, which PostgreSQL text cannot store');
  assert.equal(c('0B6F3C2A-8D7E-4F5A-9C1B-2E3D4F5A6B7C', 'uuid'), '0B6F3C2A-8D7E-4F5A-9C1B-2E3D4F5A6B7C');
  assert.equal(c('nope', 'uuid'), '!not a uuid');
  assert.equal(c(true, 'boolean'), 't');
  assert.equal(c('off', 'boolean'), 'f');
  assert.equal(c(2, 'boolean'), '!not boolean');
  assert.equal(c('hi', 'bytea'), '\\\\x6869');
});

test('jsonb: any JSON value, checked like payloads (no \\u0000, no lone surrogate, depth)', () => {
  assert.equal(c({ a: [1, 'x'] }, 'jsonb'), '{"a":[1,"x"]}');
  assert.equal(c('x', 'jsonb'), '"x"');
  assert.match(c('a\u0000', 'jsonb'), /^!JSON that holds the escape \\u0000/);
  assert.match(c([[[[[1]]]]], 'jsonb'), /^!JSON that nests 5 levels deep/);
});

test('timestamps: RFC 3339 as sent, epochs in every unit to microseconds, calendar checked', () => {
  assert.equal(c('2026-11-30T15:02:25.123456+01:00', 'timestamptz'), '2026-11-30T15:02:25.123456+01:00');
  assert.equal(c('2026-02-30T00:00:00Z', 'timestamptz'), '!not a calendar date');
  assert.equal(c('2026-11-30', 'timestamptz'), '!not an RFC 3339 timestamp (no time and offset)');
  assert.equal(c('yesterday', 'timestamptz'), '!not an RFC 3339 timestamp');
  assert.equal(c(1764514945123, 'timestamptz'), '2025-11-30T15:02:25.123Z');
  assert.equal(c(1764514945, 'timestamptz', 'epochSeconds'), '2025-11-30T15:02:25.000Z');
  assert.equal(c(1764514945.5, 'timestamptz', 'epochSeconds'), '2025-11-30T15:02:25.500Z');
  assert.equal(c(1764514945123456, 'timestamptz', 'epochMicros'), '2025-11-30T15:02:25.123456Z');
  assert.equal(c('1764514945123456789', 'timestamptz', 'epochNanos'), '2025-11-30T15:02:25.123457Z');
  assert.equal(c('1764514945123', 'timestamptz', 'epochMillis'), '2025-11-30T15:02:25.123Z');
  assert.equal(c(1e20, 'timestamptz'), '!out of the timestamp range');
  assert.equal(c('abc', 'timestamptz', 'epochMillis'), '!not a number of millis');
  assert.equal(c('2026-11-30', 'date'), '2026-11-30');
  assert.equal(c('2026-11-30T23:30:00-02:00', 'date'), '2026-11-30');
  assert.equal(c(1764514945123, 'date'), '2025-11-30');
});
