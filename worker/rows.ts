// Turns messages into rows and rows into PostgreSQL COPY text. Pure: the flusher's CPU cost per message
// is mostly here, so it avoids intermediate objects where it can.

import type { InboundMessage } from './message.ts';
import type { PartitionReason } from './partition-check.ts';
import { checkJson, checkPayloadSize, type LimitReason, type PayloadLimits } from './payload-limits.ts';
import type { RouteReason, RouteRow } from './route-rows.ts';
import { parseTopic, type UnparseableReason } from './topic.ts';

export type PayloadFormat = 'json' | 'binary';

export interface TelemetryRow {
  kind: 'telemetry';
  message: InboundMessage;
  tenant: string;
  deviceId: string;
  path: string;
  /** For json pipelines: the payload text, already checked to be JSON. */
  json?: string;
}

export interface UnparseableRow {
  kind: 'unparseable';
  message: InboundMessage;
  reason: UnparseableReason | LimitReason | RouteReason | PartitionReason;
  detail: string;
}

/** telemetry: the built-in device route (this file's fast path); route: a route of spec.routes (route-rows.ts). */
export type Row = TelemetryRow | UnparseableRow | RouteRow;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The row a message becomes; what breaks the device contract or spec.limits becomes an unparseable row. */
export function toRow(message: InboundMessage, format: PayloadFormat, limits: PayloadLimits): Row {
  const t = parseTopic(message.topic);
  if (!t.ok) return { kind: 'unparseable', message, reason: t.reason, detail: t.detail };
  const tooLarge = checkPayloadSize(message.payload.length, limits);
  if (tooLarge) return { kind: 'unparseable', message, ...tooLarge };
  if (format === 'binary') return { kind: 'telemetry', message, tenant: t.tenant, deviceId: t.deviceId, path: t.path };
  let text: string;
  try {
    text = utf8.decode(message.payload);
  } catch {
    return { kind: 'unparseable', message, reason: 'invalid_utf8', detail: 'payload is not valid UTF-8' };
  }
  try {
    JSON.parse(text);
  } catch (err) {
    return { kind: 'unparseable', message, reason: 'invalid_json', detail: (err as Error).message.slice(0, 200) };
  }
  const refused = checkJson(text, limits);
  if (refused) return { kind: 'unparseable', message, ...refused };
  return { kind: 'telemetry', message, tenant: t.tenant, deviceId: t.deviceId, path: t.path, json: text };
}

/** A row PostgreSQL refused (or, without a DLQ, the reason recorded for it in the unparseable table). */
export const rejectedRow = (message: InboundMessage, detail: string): UnparseableRow => ({
  kind: 'unparseable',
  message,
  reason: 'rejected',
  detail,
});

const NEEDS_ESCAPE = /[\\\n\r\t]/;
const ESCAPES = /[\\\n\r\t]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** COPY text format escaping of one field. */
export function copyText(value: string): string {
  return NEEDS_ESCAPE.test(value) ? value.replace(ESCAPES, (c) => ESCAPED[c] as string) : value;
}

/** A text field that must not hold NUL (PostgreSQL text cannot): the MQTT spec forbids it in topics, a broken client may not. */
const noNul = (value: string) => (value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value);

/** bytea in COPY text: \x-hex with the backslash itself escaped. */
const copyBytea = (b: Buffer) => `\\\\x${b.toString('hex')}`;

// Messages of one burst share their millisecond: formatting each timestamp once is a measurable saving.
let lastMs = Number.NaN;
let lastIso = '';
export const iso = (ms: number) => {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
};

export const TELEMETRY_COLUMNS = ['tenant', 'device_id', 'path', 'payload', 'received_at'] as const;
export const UNPARSEABLE_COLUMNS = ['topic', 'payload', 'reason', 'detail', 'received_at'] as const;

/** One telemetry table line of COPY text. */
export function telemetryLine(r: TelemetryRow): string {
  const payload = r.json !== undefined ? copyText(r.json) : copyBytea(r.message.payload);
  return `${r.tenant}\t${r.deviceId}\t${copyText(noNul(r.path))}\t${payload}\t${iso(r.message.receivedAt)}\n`;
}

/** One unparseable table line of COPY text. */
export function unparseableLine(r: UnparseableRow): string {
  return `${copyText(noNul(r.message.topic))}\t${copyBytea(r.message.payload)}\t${r.reason}\t${copyText(noNul(r.detail))}\t${iso(r.message.receivedAt)}\n`;
}

/** Characters of COPY text handed to the connection at once: memory stays bounded whatever the batch holds. */
export const COPY_CHUNK_CHARS = 256 * 1024;

/**
 * COPY text in chunks of about `chunkChars` (a single line longer than that is one chunk), produced as the
 * connection takes them. One string of a whole batch would be as large as its payloads (twice that, hex, for
 * bytea) and past V8's longest string (about 512 Mi characters) for large batches of large payloads.
 */
export function* copyChunks<R>(rows: readonly R[], line: (r: R) => string, chunkChars = COPY_CHUNK_CHARS) {
  let out = '';
  for (const r of rows) {
    out += line(r);
    if (out.length >= chunkChars) {
      yield out;
      out = '';
    }
  }
  if (out.length > 0) yield out;
}
