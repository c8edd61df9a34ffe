// Turns messages into rows and rows into PostgreSQL COPY text. Pure: the flusher's CPU cost per message
// is mostly here, so it avoids intermediate objects where it can.

import type { InboundMessage } from './message.ts';
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
  reason: UnparseableReason;
  detail: string;
}

export type Row = TelemetryRow | UnparseableRow;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function toRow(message: InboundMessage, format: PayloadFormat): Row {
  const t = parseTopic(message.topic);
  if (!t.ok) return { kind: 'unparseable', message, reason: t.reason, detail: t.detail };
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
const iso = (ms: number) => {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
};

export const TELEMETRY_COLUMNS = ['tenant', 'device_id', 'path', 'payload', 'received_at'] as const;
export const UNPARSEABLE_COLUMNS = ['topic', 'payload', 'reason', 'detail', 'received_at'] as const;

/** COPY text for the telemetry table. */
export function telemetryCopyText(rows: TelemetryRow[]): string {
  let out = '';
  for (const r of rows) {
    const payload = r.json !== undefined ? copyText(r.json) : copyBytea(r.message.payload);
    out += `${r.tenant}\t${r.deviceId}\t${copyText(noNul(r.path))}\t${payload}\t${iso(r.message.receivedAt)}\n`;
  }
  return out;
}

/** COPY text for the unparseable table. */
export function unparseableCopyText(rows: UnparseableRow[]): string {
  let out = '';
  for (const r of rows) {
    out += `${copyText(noNul(r.message.topic))}\t${copyBytea(r.message.payload)}\t${r.reason}\t${copyText(noNul(r.detail))}\t${iso(r.message.receivedAt)}\n`;
  }
  return out;
}
