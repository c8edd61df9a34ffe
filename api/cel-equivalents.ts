// JavaScript twins of the schema's CEL rules, so `mqtt2pg validate` reports what the API server would
// reject before anything is applied. Transition rules (those reading oldSelf) need the stored object and
// are left to the API server. api/schema.test.ts fails when a CEL rule has no twin here.

import { PIPELINE_NAME_RULE, pipelineNameProblem } from './names.ts';
import {
  DEDUP_COLUMNS_RULE,
  FORMAT_NEEDS_TIME_RULE,
  JSON_PATH_NEEDS_JSON_RULE,
  PARTITION_COLUMN_RULE,
  PARTITION_IN_KEY_RULE,
} from './schema-routes.ts';
import { PGBOUNCER_TLS_RULE } from './schema-source-sink.ts';
import type { ColumnSpec, RouteSpec } from './types.ts';

type Obj = Record<string, unknown>;
const has = (o: Obj, k: string) => o[k] !== undefined;

export const celEquivalents: Record<string, (self: unknown) => boolean> = {
  [PIPELINE_NAME_RULE]: (self) =>
    pipelineNameProblem(String((self as { metadata?: { name?: unknown } }).metadata?.name ?? '')) === undefined,
  "self.all(u, !u.contains('@'))": (self) => (self as string[]).every((u) => !u.includes('@')),
  "!self.contains('@')": (self) => !(self as string).includes('@'),
  "!self.startsWith('$share/')": (self) => !(self as string).startsWith('$share/'),
  [PGBOUNCER_TLS_RULE]: (self) => {
    const sink = self as { pgbouncer?: Obj; postgres?: Obj };
    const mode = sink.postgres?.sslMode;
    return sink.pgbouncer?.clientTlsSecretRef === undefined || (mode !== undefined && mode !== 'disable');
  },
  '!has(self.minFlushers) || !has(self.maxFlushers) || self.minFlushers <= self.maxFlushers': (self) => {
    const o = self as Obj;
    return !has(o, 'minFlushers') || !has(o, 'maxFlushers') || (o.minFlushers as number) <= (o.maxFlushers as number);
  },
  '!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas': (self) => {
    const o = self as Obj;
    return !has(o, 'minReplicas') || !has(o, 'maxReplicas') || (o.minReplicas as number) <= (o.maxReplicas as number);
  },
  '!has(self.minPoolSize) || !has(self.maxPoolSize) || self.minPoolSize <= self.maxPoolSize': (self) => {
    const o = self as Obj;
    return !has(o, 'minPoolSize') || !has(o, 'maxPoolSize') || (o.minPoolSize as number) <= (o.maxPoolSize as number);
  },
  [`!has(self.dedup) || ${DEDUP_COLUMNS_RULE}`]: (self) => {
    const r = self as RouteSpec;
    return !r.dedup || r.dedup.key.every((k) => r.columns.some((c) => c.name === k));
  },
  [`!has(self.partitioning) || ${PARTITION_COLUMN_RULE}`]: (self) => {
    const r = self as RouteSpec;
    const p = r.partitioning;
    return !p || r.columns.some((c) => c.name === p.column && c.type === 'timestamptz');
  },
  [PARTITION_IN_KEY_RULE]: (self) => {
    const r = self as RouteSpec;
    return !r.partitioning || !r.dedup || r.dedup.key.includes(r.partitioning.column);
  },
  [JSON_PATH_NEEDS_JSON_RULE]: (self) => {
    const r = self as RouteSpec;
    return (
      r.payloadFormat === undefined ||
      r.payloadFormat === 'json' ||
      r.columns.every((c) => !c.from.startsWith('payload.') && !c.from.startsWith('payload['))
    );
  },
  [FORMAT_NEEDS_TIME_RULE]: (self) => {
    const c = self as ColumnSpec;
    return c.format === undefined || c.type === 'timestamptz' || c.type === 'date';
  },
};

/**
 * Where a rule's problem is reported when its CEL cannot say (the API server accepts no fieldPath into
 * metadata, whose schema it owns).
 */
export const celReportPaths: Record<string, string> = { [PIPELINE_NAME_RULE]: 'metadata.name' };

export const isTransitionRule = (rule: string) => rule.includes('oldSelf');
