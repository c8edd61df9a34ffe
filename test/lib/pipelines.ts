// The one builder of test IngestPipelines: a typed document from overrides, laid over placeholder services
// nobody connects to, and the variants the suites need on top of it:
//   pipeline()       resolved through the loader, as the operator resolves it (render and reconcile tests)
//   apiPipeline()    in a namespace of the API server, for the operator's tests (placeholder services)
//   envPipeline()    against the test environment's services, with the Secrets of envSecrets()
// test/lib/worker-process.ts writes an envPipeline() as the file and secrets dir a worker process reads.

import { randomBytes } from 'node:crypto';
import type { ResolvedPipeline } from '../../api/defaults.ts';
import { parsePipelines } from '../../api/load-pipeline.ts';
import { API_VERSION, type IngestPipeline, type IngestPipelineSpec, KIND, type ObjectMeta } from '../../api/types.ts';
import { requireEnv } from './env.ts';

/** Any part of T, at any depth; arrays are given whole. */
export type Overrides<T> = {
  [K in keyof T]?: NonNullable<T[K]> extends readonly unknown[]
    ? T[K]
    : NonNullable<T[K]> extends object
      ? Overrides<NonNullable<T[K]>>
      : T[K];
};
export type SpecOverrides = Overrides<IngestPipelineSpec>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `base` with `over` laid on it: objects merge key by key, anything else (arrays too) replaces, and an explicit
 * `undefined` removes the key. Neither argument is modified.
 */
export function overlay<T>(base: T, over: Overrides<T>): T {
  return merge(base, over) as T;
}

function merge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return structuredClone(over);
  const out = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

/**
 * `doc` with fields the types do not allow laid on it (same rules as overlay): for tests of what the schema,
 * the API server or the loader refuses.
 */
export function unchecked(doc: IngestPipeline, over: Record<string, unknown>): IngestPipeline {
  return merge(doc, over) as IngestPipeline;
}

export interface PipelineOptions {
  name?: string;
  namespace?: string;
  metadata?: Partial<ObjectMeta>;
  spec?: SpecOverrides;
}

// The least the loader and the CRD accept. The operator never connects to these services.
const placeholderSpec: IngestPipelineSpec = {
  source: { brokers: ['mqtt://broker.iot:1883'] },
  sink: { postgres: { host: 'pg.db', database: 'telemetry', credentialsSecretRef: { name: 'pg' } } },
};

export function ingestPipeline(o: PipelineOptions = {}): IngestPipeline {
  return layered(o, o.spec ?? {});
}

/** The document of `o` whose spec is the placeholder spec with each layer laid on it in turn. */
function layered(o: Omit<PipelineOptions, 'spec'>, ...layers: SpecOverrides[]): IngestPipeline {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: o.name ?? 'fleet', ...(o.namespace ? { namespace: o.namespace } : {}), ...o.metadata },
    spec: layers.reduce((spec, layer) => overlay(spec, layer), placeholderSpec),
  };
}

/**
 * For the render and reconcile tests: as the API server returns it (namespace iot, a uid, generation 3),
 * with Secrets named like a user's, and resolved the way the operator resolves it (through the loader).
 */
export function pipeline(spec: SpecOverrides = {}, name = 'fleet'): { p: IngestPipeline; r: ResolvedPipeline } {
  const p = layered(
    { name, namespace: 'iot', metadata: { uid: '0b5f3c9e-1111-4222-8333-444455556666', generation: 3 } },
    {
      source: { auth: { secretRef: { name: 'mqtt-creds' } } },
      sink: { postgres: { host: 'pg-rw.db.svc', credentialsSecretRef: { name: 'pg-creds' } } },
    },
    spec,
  );
  const loaded = parsePipelines(JSON.stringify(p));
  const first = loaded.pipelines[0];
  if (!first) throw new Error(`fixture invalid: ${JSON.stringify(loaded.problems)}`);
  return { p, r: first.resolved };
}

/** For the operator against the API server: in namespace `ns`, PostgreSQL credentials in Secret `pgSecret`. */
export function apiPipeline(ns: string, name: string, spec: SpecOverrides = {}, pgSecret = 'pg'): IngestPipeline {
  return layered({ name, namespace: ns }, { sink: { postgres: { credentialsSecretRef: { name: pgSecret } } } }, spec);
}

/** What a test pipeline owns in the shared services, so suites never see each other's data (test/lib/ledger.ts). */
export interface PipelineTarget {
  /** Suffix of its path and tables. */
  id: string;
  name: string;
  /** Topic level after evt/ that only this pipeline subscribes to. */
  path: string;
  table: string;
  unparseableTable: string;
  /** Where its dead letters land in the bucket (the spec's prefix, then the pipeline name). */
  dlqPrefix: string;
}

export interface EnvPipelineOptions {
  /** Starts the name (`<tag>-<id>`), the topic level (`<tag><id>`) and the DLQ prefix (`<tag>/`). Default it. */
  tag?: string;
  /** Default: random. */
  id?: string;
  /** Default `<tag>-<id>`; a second pipeline of a target keeps its path and tables under another name. */
  name?: string;
  /** Default: default. */
  namespace?: string;
  /** sink.postgres names PostgreSQL itself (for a PgBouncer of the pipeline's own), not the environment's PgBouncer. */
  direct?: boolean;
  /** The DLQ prefix in the environment's bucket, or false for no dead-letter store. */
  dlq?: string | false;
  spec?: SpecOverrides;
}

export interface EnvPipeline extends PipelineTarget {
  doc: IngestPipeline;
}

/**
 * Against the test environment's Mosquitto, PgBouncer (or PostgreSQL) and MinIO, with Secrets named as in
 * envSecrets(), its own tables and topic level, and a flush interval short enough for tests.
 */
export function envPipeline(o: EnvPipelineOptions = {}): EnvPipeline {
  const tag = o.tag ?? 'it';
  const id = o.id ?? randomBytes(4).toString('hex');
  const target = { id, name: `${tag}-${id}`, path: `${tag}${id}`, table: `t_${id}`, unparseableTable: `u_${id}` };
  const name = o.name ?? target.name;
  const dlqRoot = o.dlq || `${tag}/`;
  const db = new URL(requireEnv(o.direct ? 'DATABASE_URL' : 'PGBOUNCER_URL'));
  const env: SpecOverrides = {
    source: {
      brokers: [requireEnv('MQTT_URL')],
      topicFilter: `t/+/d/+/evt/${target.path}/#`,
      sessionExpiry: '5m',
      auth: { secretRef: { name: 'mqtt' } },
    },
    sink: {
      postgres: {
        host: db.hostname,
        port: Number(db.port),
        database: db.pathname.slice(1),
        credentialsSecretRef: { name: 'pg' },
      },
      pgbouncer: { enabled: false },
      table: target.table,
      unparseableTable: target.unparseableTable,
    },
    flusher: { flushInterval: '50ms' },
    ...(o.dlq === false
      ? {}
      : {
          deadLetter: {
            s3: {
              bucket: requireEnv('S3_BUCKET'),
              endpoint: requireEnv('S3_ENDPOINT'),
              region: requireEnv('S3_REGION'),
              forcePathStyle: true,
              prefix: dlqRoot,
              credentialsSecretRef: { name: 's3' },
            },
          },
        }),
  };
  return {
    ...target,
    name,
    dlqPrefix: `${dlqRoot}${name}/`,
    doc: layered({ name, namespace: o.namespace ?? 'default' }, env, o.spec ?? {}),
  };
}

/** The Secrets an envPipeline() references (name → key → value): the test environment's credentials. */
export function envSecrets(): Record<string, Record<string, string>> {
  const pg = new URL(requireEnv('PGBOUNCER_URL'));
  return {
    pg: { username: decodeURIComponent(pg.username), password: decodeURIComponent(pg.password) },
    mqtt: { username: requireEnv('MQTT_USERNAME'), password: requireEnv('MQTT_PASSWORD') },
    s3: { accessKeyId: requireEnv('S3_ACCESS_KEY_ID'), secretAccessKey: requireEnv('S3_SECRET_ACCESS_KEY') },
  };
}
