// A value → the COPY text of one PostgreSQL column, or why it does not fit. Checked before COPY so a value
// the table would refuse costs no batch split: the message goes to the unparseable table with the column
// named (worker/route-rows.ts). Pure.

import type { ColumnType, TimestampFormat } from '../api/types.ts';
import { checkJson, type PayloadLimits } from './payload-limits.ts';
import { copyText } from './rows.ts';

/** The whole payload as a source: its bytes, and for json/text routes its text and parsed value. */
export interface WholePayload {
  readonly whole: true;
  raw: Buffer;
  text?: string;
  parsed?: unknown;
}

export const isWholePayload = (v: unknown): v is WholePayload =>
  typeof v === 'object' && v !== null && (v as { whole?: unknown }).whole === true;

/** COPY text of the value, or a string (starting "not ") saying why it does not fit. */
export type Converted = { ok: true; text: string } | { ok: false; why: string };

const ok = (text: string): Converted => ({ ok: true, text });
const no = (why: string): Converted => ({ ok: false, why });

const UUID = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;
const INTEGER = /^[+-]?[0-9]+$/;
const DECIMAL = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const INT_RANGE: Record<string, [bigint, bigint]> = {
  smallint: [-32768n, 32767n],
  integer: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
};

/** A short rendering of the value for the unparseable row's detail. */
export function show(v: unknown): string {
  if (isWholePayload(v)) return v.text !== undefined ? show(v.text) : `${v.raw.length} bytes`;
  if (Buffer.isBuffer(v)) return `${v.length} bytes`;
  const s = typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** The value as a string for the text-like types; undefined when it is not one. */
function asString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isWholePayload(v)) {
    if (v.text !== undefined) return v.text;
    try {
      return utf8.decode(v.raw);
    } catch {
      return undefined;
    }
  }
  if (Buffer.isBuffer(v)) {
    try {
      return utf8.decode(v);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** A scalar for the number, boolean and time types: the parsed JSON of a whole payload, else the value. */
const scalar = (v: unknown): unknown => (isWholePayload(v) ? (v.parsed !== undefined ? v.parsed : asString(v)) : v);

/** PostgreSQL text cannot hold NUL; a lone surrogate would reach it as U+FFFD, silently changed. */
function storableText(s: string): Converted {
  if (s.includes('\u0000')) return no('holds the character U+0000, which PostgreSQL text cannot store');
  if (!s.isWellFormed()) return no('holds a lone UTF-16 surrogate, which PostgreSQL text cannot store');
  return ok(copyText(s));
}

function toText(v: unknown): Converted {
  const s = asString(v);
  if (s !== undefined) return storableText(s);
  if (typeof v === 'number' || typeof v === 'boolean') return ok(String(v));
  if (typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !isWholePayload(v))
    return storableText(JSON.stringify(v));
  return no('not valid UTF-8');
}

function toInteger(v: unknown, type: string): Converted {
  let n: bigint;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return no(`not ${type} (not a whole number)`);
    // JSON numbers are doubles: past 2^53 the digits sent are not the digits read.
    if (!Number.isSafeInteger(v)) return no('past 2^53, where a JSON number loses digits; send it as a string');
    n = BigInt(v);
  } else if (typeof v === 'string' && INTEGER.test(v.trim())) {
    n = BigInt(v.trim());
  } else {
    return no(`not ${type}`);
  }
  const [min, max] = INT_RANGE[type] as [bigint, bigint];
  if (n < min || n > max) return no(`out of the ${type} range ${min}..${max}`);
  return ok(n.toString());
}

function toFloat(v: unknown, real: boolean): Converted {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && DECIMAL.test(v.trim())) n = Number(v.trim());
  else if (typeof v === 'string' && /^(NaN|[+-]?Infinity)$/.test(v.trim())) return ok(v.trim());
  else return no(`not ${real ? 'real' : 'double precision'}`);
  const stored = real ? Math.fround(n) : n;
  if (!Number.isFinite(stored)) return no(`out of the ${real ? 'real' : 'double precision'} range`);
  if (stored === 0 && n !== 0) return no(`too close to 0 for ${real ? 'real' : 'double precision'}`);
  return ok(String(n));
}

function toNumeric(v: unknown): Converted {
  if (typeof v === 'number') return ok(String(v));
  if (typeof v === 'string' && (DECIMAL.test(v.trim()) || v.trim() === 'NaN')) return ok(v.trim());
  return no('not numeric');
}

const TRUE = new Set(['true', 't', 'yes', 'y', 'on', '1']);
const FALSE = new Set(['false', 'f', 'no', 'n', 'off', '0']);

function toBoolean(v: unknown): Converted {
  if (typeof v === 'boolean') return ok(v ? 't' : 'f');
  if (v === 0 || v === 1) return ok(v === 1 ? 't' : 'f');
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (TRUE.has(s)) return ok('t');
    if (FALSE.has(s)) return ok('f');
  }
  return no('not boolean');
}

function toUuid(v: unknown): Converted {
  if (typeof v === 'string' && UUID.test(v)) return ok(v);
  return no('not a uuid');
}

function toJsonb(v: unknown, limits: PayloadLimits): Converted {
  // The whole payload keeps its text (numbers keep their digits); it was checked when the row was built.
  if (isWholePayload(v)) return v.parsed !== undefined && v.text !== undefined ? ok(copyText(v.text)) : no('not JSON');
  const text = JSON.stringify(v);
  if (text === undefined) return no('not JSON');
  const refused = checkJson(text, limits);
  if (refused) return no(refused.detail.replace(/^JSON /, 'JSON that '));
  return ok(copyText(text));
}

function toBytea(v: unknown): Converted {
  if (isWholePayload(v)) return ok(`\\\\x${v.raw.toString('hex')}`);
  if (Buffer.isBuffer(v)) return ok(`\\\\x${v.toString('hex')}`);
  if (typeof v === 'string') return ok(`\\\\x${Buffer.from(v, 'utf8').toString('hex')}`);
  return no('not bytes or a string');
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2}))?$/;

const daysIn = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();

/** An RFC 3339 timestamp (or, for date columns, a plain date) checked field by field: PostgreSQL refuses Feb 30. */
function rfc3339(s: string, dateOnly: boolean): Converted {
  const m = RFC3339.exec(s.trim());
  if (!m) return no(dateOnly ? 'not an RFC 3339 date or timestamp' : 'not an RFC 3339 timestamp');
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo)) return no('not a calendar date');
  if (m[4] === undefined) return dateOnly ? ok(s.trim()) : no('not an RFC 3339 timestamp (no time and offset)');
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 60) return no('not a time of day');
  // A date column takes the date as written, as PostgreSQL's own cast to date does.
  return ok(dateOnly ? s.trim().slice(0, 10) : s.trim());
}

const EPOCH_MICROS: Record<Exclude<TimestampFormat, 'rfc3339'>, number> = {
  epochSeconds: 1e6,
  epochMillis: 1e3,
  epochMicros: 1,
  epochNanos: 1e-3,
};

/** Microseconds since the epoch from a number or numeric string in the given unit. */
function epochMicros(v: unknown, format: Exclude<TimestampFormat, 'rfc3339'>): number | undefined {
  const s = typeof v === 'string' ? v.trim() : undefined;
  if (s !== undefined && INTEGER.test(s)) {
    // Whole numbers as strings keep every digit (nanoseconds since 1970 are past 2^53).
    const n = BigInt(s);
    if (format === 'epochNanos') return Number(n / 1000n) + Math.round(Number(n % 1000n) / 1000);
    return Number(n) * EPOCH_MICROS[format];
  }
  const n = typeof v === 'number' ? v : s !== undefined && DECIMAL.test(s) ? Number(s) : undefined;
  return n === undefined ? undefined : Math.round(n * EPOCH_MICROS[format]);
}

/** Date's own range (±8.64e15 ms), well inside PostgreSQL's. */
const MAX_MICROS = 8.64e18;

function isoMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const rest = micros - ms * 1000;
  const iso = new Date(ms).toISOString();
  return rest === 0 ? iso : `${iso.slice(0, -1)}${String(rest).padStart(3, '0')}Z`;
}

function toTime(v: unknown, type: 'timestamptz' | 'date', format: TimestampFormat | undefined): Converted {
  const dateOnly = type === 'date';
  const f = format ?? (typeof v === 'number' ? 'epochMillis' : 'rfc3339');
  if (f === 'rfc3339') return typeof v === 'string' ? rfc3339(v, dateOnly) : no('not an RFC 3339 timestamp');
  if (typeof v !== 'number' && typeof v !== 'string') return no(`not a number of ${f.slice(5).toLowerCase()}`);
  const micros = epochMicros(v, f);
  if (micros === undefined) return no(`not a number of ${f.slice(5).toLowerCase()}`);
  if (!(Math.abs(micros) <= MAX_MICROS)) return no('out of the timestamp range');
  const iso = isoMicros(micros);
  return ok(dateOnly ? iso.slice(0, 10) : iso);
}

/** The COPY text of `value` in a column of `type`; `value` is never null or undefined here. */
export function convert(
  value: unknown,
  type: ColumnType,
  format: TimestampFormat | undefined,
  limits: PayloadLimits,
): Converted {
  switch (type) {
    case 'text':
      return toText(value);
    case 'uuid':
      return toUuid(asString(value) ?? value);
    case 'smallint':
    case 'integer':
    case 'bigint':
      return toInteger(scalar(value), type);
    case 'real':
      return toFloat(scalar(value), true);
    case 'double precision':
      return toFloat(scalar(value), false);
    case 'numeric':
      return toNumeric(scalar(value));
    case 'boolean':
      return toBoolean(scalar(value));
    case 'timestamptz':
    case 'date':
      return toTime(scalar(value), type, format);
    case 'jsonb':
      return toJsonb(value, limits);
    case 'bytea':
      return toBytea(value);
  }
}
