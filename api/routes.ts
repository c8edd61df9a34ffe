// spec.routes resolved: every pipeline has a list of routes. Without spec.routes it is the one built-in
// route, the device contract written as a route (docs/routes.md shows it as YAML a user can copy), which the
// worker writes with its specialized path (worker/rows.ts) into today's table, unchanged.

import type { ColumnType, RouteSpec, TimestampFormat } from './types.ts';

export interface ResolvedColumn {
  name: string;
  type: ColumnType;
  from: string;
  /** Absent: rfc3339 for strings, epochMillis for numbers (worker/columns.ts). */
  format?: TimestampFormat;
  required: boolean;
}

export interface ResolvedPartitioning {
  column: string;
  interval: string;
  intervalMs: number;
  retention?: string;
  retentionMs?: number;
  premake: number;
}

export interface ResolvedRoute {
  name: string;
  topicFilter: string;
  /** What the workers subscribe to: $share/<group>/<filter>. */
  subscription: string;
  topicPattern: string;
  table: string;
  payloadFormat: 'json' | 'binary' | 'text';
  columns: ResolvedColumn[];
  dedup?: { key: string[] };
  partitioning?: ResolvedPartitioning;
  /** The device-contract route of a pipeline without spec.routes. */
  builtIn: boolean;
}

export const DEFAULT_ROUTE_NAME = 'default';
export const DEFAULT_TOPIC_PATTERN = 't/{tenant}/d/{device_id:uuid}/evt/{path+}';
export const DEFAULT_PREMAKE = 4;

/** The device contract as a route: what a pipeline without spec.routes runs. */
export function defaultRouteSpec(topicFilter: string, table: string, payloadFormat: 'json' | 'binary'): RouteSpec {
  return {
    name: DEFAULT_ROUTE_NAME,
    topicFilter,
    topicPattern: DEFAULT_TOPIC_PATTERN,
    table,
    payloadFormat,
    columns: [
      { name: 'tenant', type: 'text', from: 'topic.tenant', required: true },
      { name: 'device_id', type: 'uuid', from: 'topic.device_id', required: true },
      { name: 'path', type: 'text', from: 'topic.path', required: true },
      { name: 'payload', type: payloadFormat === 'json' ? 'jsonb' : 'bytea', from: 'payload', required: true },
      { name: 'received_at', type: 'timestamptz', from: 'receivedAt', required: true },
    ],
  };
}

const INTERVAL_UNIT_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** "1d" → 86_400_000 (the schema's PARTITION_INTERVAL_PATTERN: hours, days or weeks). */
export function parseIntervalMs(text: string): number {
  const m = /^([1-9][0-9]*)(h|d|w)$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a partition interval; write it like "6h", "1d" or "1w"`);
  return Number(m[1]) * (INTERVAL_UNIT_MS[m[2] as string] as number);
}

export function resolveRoute(r: RouteSpec, sharedGroup: string, builtIn = false): ResolvedRoute {
  const p = r.partitioning;
  return {
    name: r.name,
    topicFilter: r.topicFilter,
    subscription: `$share/${sharedGroup}/${r.topicFilter}`,
    topicPattern: r.topicPattern,
    table: r.table,
    payloadFormat: r.payloadFormat ?? 'json',
    columns: r.columns.map((c) => ({
      name: c.name,
      type: c.type,
      from: c.from,
      ...(c.format ? { format: c.format } : {}),
      required: c.required ?? false,
    })),
    ...(r.dedup ? { dedup: { key: [...r.dedup.key] } } : {}),
    ...(p
      ? {
          partitioning: {
            column: p.column,
            interval: p.interval,
            intervalMs: parseIntervalMs(p.interval),
            ...(p.retention ? { retention: p.retention, retentionMs: parseIntervalMs(p.retention) } : {}),
            premake: p.premake ?? DEFAULT_PREMAKE,
          },
        }
      : {}),
    builtIn,
  };
}
