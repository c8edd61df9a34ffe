// A message and its route → one line of COPY text for the route's table, or an unparseable row whose reason
// says what was wrong and whose detail names the column (column "temperature": "abc" is not double
// precision). The payload is parsed once per message; every column is converted and checked here, before
// COPY, so a value the table would refuse never splits a batch. Pure.

import type { ResolvedColumn, ResolvedRoute } from '../api/routes.ts';
import { convert, show, type WholePayload } from './columns.ts';
import type { InboundMessage } from './message.ts';
import { checkJson, checkPayloadSize, type PayloadLimits } from './payload-limits.ts';
import { iso, type UnparseableRow } from './rows.ts';
import { MAX_TOPIC_BYTES } from './topic.ts';
import { type CompiledPattern, compileTopicPattern } from './topic-pattern.ts';

/** A row of a declared route (spec.routes): its COPY line, ready for the route's table. */
export interface RouteRow {
  kind: 'route';
  message: InboundMessage;
  route: string;
  /** One line of COPY text, with its newline, in the order of the route's columns. */
  line: string;
  /** A partitioned route's partition column, epoch ms (null: no value); checked by partition-check.ts. */
  partitionAt?: number | null;
}

/** Reasons a declared route adds to the unparseable table's (docs/routes.md). */
export type RouteReason = 'no_route' | 'column_type' | 'column_missing';

type Source = (m: InboundMessage, captures: string[], payload: WholePayload | undefined) => unknown;

interface CompiledColumn {
  column: ResolvedColumn;
  read: Source;
  /** COPY text straight from the message, for sources whose value always fits (the receive time). */
  direct?: (m: InboundMessage) => string;
}

type PathStep = string | number;

/** "payload.a.b[0].c" → ['a', 'b', 0, 'c']. */
export function jsonPath(from: string): PathStep[] {
  const steps: PathStep[] = [];
  const re = /\.([^.[\]]+)|\[([0-9]+)\]/gy;
  re.lastIndex = 'payload'.length;
  for (let m = re.exec(from); m; m = re.exec(from)) steps.push(m[1] !== undefined ? m[1] : Number(m[2]));
  return steps;
}

function walk(value: unknown, steps: PathStep[]): unknown {
  let v = value;
  for (const s of steps) {
    if (v === null || typeof v !== 'object') return undefined;
    if (typeof s === 'number' ? !Array.isArray(v) : Array.isArray(v)) return undefined;
    v = (v as Record<string | number, unknown>)[s];
  }
  return v;
}

function compileSource(from: string, pattern: CompiledPattern): Source {
  if (from === 'topic') return (m) => m.topic;
  if (from === 'receivedAt') return (m) => iso(m.receivedAt);
  if (from === 'contentType') return (m) => m.contentType;
  if (from === 'payload') return (_m, _c, p) => p;
  if (from.startsWith('topic.')) {
    const i = pattern.names.indexOf(from.slice('topic.'.length));
    return (_m, c) => c[i];
  }
  if (from.startsWith('property.')) {
    const name = from.slice('property.'.length);
    return (m) => {
      const v = m.userProperties?.[name];
      return Array.isArray(v) ? v[0] : v;
    };
  }
  const steps = jsonPath(from);
  return (_m, _c, p) => walk(p?.parsed, steps);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export interface CompiledRoute {
  readonly route: ResolvedRoute;
  toRow(message: InboundMessage): RouteRow | UnparseableRow;
}

export function compileRoute(route: ResolvedRoute, limits: PayloadLimits): CompiledRoute {
  const pattern = compileTopicPattern(route.topicPattern);
  const columns: CompiledColumn[] = route.columns.map((column) => ({
    column,
    read: compileSource(column.from, pattern),
    ...(column.from === 'receivedAt' && column.type === 'timestamptz'
      ? { direct: (m: InboundMessage) => iso(m.receivedAt) }
      : {}),
  }));
  const partitionIndex = route.partitioning
    ? route.columns.findIndex((c) => c.name === route.partitioning?.column)
    : -1;
  const readsPayload = route.columns.some((c) => c.from.startsWith('payload'));
  // jsonb refuses what JSON.parse accepts (\u0000, lone surrogates, deep nesting): checked when a jsonb
  // column takes the payload or a part of it, as the device route checks its payload column.
  const jsonbFromPayload = route.columns.some((c) => c.type === 'jsonb' && c.from.startsWith('payload'));
  const unparseable = (message: InboundMessage, reason: UnparseableRow['reason'], detail: string): UnparseableRow => ({
    kind: 'unparseable',
    message,
    reason,
    detail,
  });

  return {
    route,
    toRow(message) {
      if (Buffer.byteLength(message.topic, 'utf8') > MAX_TOPIC_BYTES)
        return unparseable(message, 'topic_too_long', `topic is over ${MAX_TOPIC_BYTES} bytes`);
      const t = pattern.match(message.topic);
      if (!t.ok) return unparseable(message, 'topic_shape', `route ${route.name}: ${t.detail}`);
      const tooLarge = checkPayloadSize(message.payload.length, limits);
      if (tooLarge) return unparseable(message, tooLarge.reason, tooLarge.detail);
      let payload: WholePayload | undefined;
      if (readsPayload) {
        payload = { whole: true, raw: message.payload };
        if (route.payloadFormat !== 'binary') {
          try {
            payload.text = utf8.decode(message.payload);
          } catch {
            return unparseable(message, 'invalid_utf8', 'payload is not valid UTF-8');
          }
        }
        if (route.payloadFormat === 'json') {
          try {
            payload.parsed = JSON.parse(payload.text as string);
          } catch (err) {
            return unparseable(message, 'invalid_json', (err as Error).message.slice(0, 200));
          }
          if (jsonbFromPayload) {
            const refused = checkJson(payload.text as string, limits);
            if (refused) return unparseable(message, refused.reason, refused.detail);
          }
        }
      }
      let line = '';
      let partitionAt: number | null | undefined;
      for (let i = 0; i < columns.length; i++) {
        const { column, read, direct } = columns[i] as CompiledColumn;
        if (direct) {
          line += i === 0 ? direct(message) : `\t${direct(message)}`;
          continue;
        }
        const value = read(message, t.captures, payload);
        let text: string;
        if (value === undefined || value === null) {
          if (column.required)
            return unparseable(message, 'column_missing', `column "${column.name}": no value at ${column.from}`);
          text = '\\N';
        } else {
          const c = convert(value, column.type, column.format, limits);
          if (!c.ok) return unparseable(message, 'column_type', `column "${column.name}": ${show(value)} is ${c.why}`);
          text = c.text;
        }
        line += i === 0 ? text : `\t${text}`;
        if (i === partitionIndex) partitionAt = text === '\\N' ? null : Date.parse(text);
      }
      const row: RouteRow = { kind: 'route', message, route: route.name, line: `${line}\n` };
      if (partitionAt !== undefined) row.partitionAt = partitionAt;
      return row;
    },
  };
}
