// Names, labels and ownership shared by every child a pipeline gets. Names and labels are API: users select
// pods by them, the operator finds its children by them, and the worker contract fixes some of them.

import { createHash } from 'node:crypto';
import { API_VERSION, type IngestPipeline, KIND } from '../../api/types.ts';
import { VERSION } from '../../common/version.ts';

export const FIELD_MANAGER = 'mqtt2pg-operator';
export const MANAGED_BY = 'mqtt2pg-operator';
export const PIPELINE_LABEL = 'mqtt2pg.io/pipeline';
export const CONFIG_HASH_ANNOTATION = 'mqtt2pg.io/config-hash';
/** Hash of the object as last rendered: with the live object, lets a resync skip an apply that changes nothing. */
export const APPLIED_HASH_ANNOTATION = 'mqtt2pg.io/applied-hash';
export const MANAGED_SELECTOR = `app.kubernetes.io/managed-by=${MANAGED_BY}`;

/** `drain`: the Jobs that flush a removed worker's WAL volume (their pods must not count as workers). */
export type Component = 'worker' | 'pgbouncer' | 'drain';

export const DEFAULT_WORKER_IMAGE = `ghcr.io/mqtt2pg/mqtt2pg:${VERSION}`;
export const DEFAULT_PGBOUNCER_IMAGE = 'ghcr.io/cloudnative-pg/pgbouncer:1.24.1';
export const OPERATOR_VERSION = VERSION;

export const names = (pipeline: string) => ({
  worker: `${pipeline}-worker`,
  workerConfig: `${pipeline}-worker-config`,
  serviceAccount: `${pipeline}-worker`,
  role: `${pipeline}-worker`,
  roleBinding: `${pipeline}-worker`,
  pdb: `${pipeline}-worker`,
  pgbouncer: `${pipeline}-pgbouncer`,
  pgbouncerConfig: `${pipeline}-pgbouncer-config`,
  pgbouncerAuth: `${pipeline}-pgbouncer-auth`,
  /** The autoscaler's PgBouncer admin credentials (operator/render/pgbouncer-admin.ts); no pod mounts it. */
  pgbouncerAdmin: `${pipeline}-pgbouncer-admin`,
  workerNetworkPolicy: `${pipeline}-worker`,
  pgbouncerNetworkPolicy: `${pipeline}-pgbouncer`,
  /** The drain Job of worker ordinal n's WAL volume (at most 45 + 7 + digits: a valid Job name). */
  drainJob: (ordinal: number) => `${pipeline}-drain-${ordinal}`,
});

export const selectorLabels = (pipeline: string, component: Component): Record<string, string> => ({
  'app.kubernetes.io/name': 'mqtt2pg',
  'app.kubernetes.io/instance': pipeline,
  'app.kubernetes.io/component': component,
});

export const labels = (pipeline: string, component: Component): Record<string, string> => ({
  ...selectorLabels(pipeline, component),
  'app.kubernetes.io/managed-by': MANAGED_BY,
  'app.kubernetes.io/version': VERSION,
  [PIPELINE_LABEL]: pipeline,
});

export function ownerReferences(p: IngestPipeline) {
  if (!p.metadata.uid) return undefined;
  return [
    {
      apiVersion: API_VERSION,
      kind: KIND,
      name: p.metadata.name,
      uid: p.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
}

export function objectMeta(
  p: IngestPipeline,
  name: string,
  component: Component,
  annotations?: Record<string, string>,
) {
  const owners = ownerReferences(p);
  return {
    name,
    namespace: p.metadata.namespace ?? 'default',
    labels: labels(p.metadata.name, component),
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
    ...(owners ? { ownerReferences: owners } : {}),
  };
}

/** A stable hash of JSON-able data (object keys sorted), hex, shortened: collisions only cost a missed roll. */
export function stableHash(value: unknown, length = 16): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, length);
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Bytes as a Kubernetes quantity in its canonical form (the largest binary unit that divides it). */
export function quantity(bytes: number): string {
  for (const [unit, size] of [
    ['Ei', 2 ** 60],
    ['Pi', 2 ** 50],
    ['Ti', 2 ** 40],
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
