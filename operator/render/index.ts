// Everything a pipeline owns, rendered from its spec in one pure call: what the operator applies and what
// `mqtt2pg render` prints. Order matters only for readability and for a first rollout: identities and
// configuration before the workloads that mount them.

import type { ResolvedPipeline } from '../../api/defaults.ts';
import { workerSecretKeys } from '../../api/secret-refs.ts';
import type { IngestPipeline } from '../../api/types.ts';
import type { KubeObject } from '../runtime/kube.ts';
import { renderWorkerConfig, workerConfigHashInput } from './config.ts';
import { DEFAULT_PGBOUNCER_IMAGE, DEFAULT_WORKER_IMAGE, stableHash } from './meta.ts';
import { DEFAULT_OPERATOR_NAMESPACE, renderNetworkPolicies } from './network-policy.ts';
import { renderPdb } from './pdb.ts';
import { type PgBouncerCredentials, renderPgBouncer } from './pgbouncer.ts';
import { renderRbac } from './rbac.ts';
import { renderWorker } from './worker.ts';

export interface RenderOptions {
  /** Operator-wide default worker image (--worker-image); spec.image wins. */
  workerImage?: string;
  /** Operator-wide default PgBouncer image (--pgbouncer-image); spec.sink.pgbouncer.image wins. */
  pgbouncerImage?: string;
  /** The operator's namespace, which the NetworkPolicies let in (default mqtt2pg-system). */
  operatorNamespace?: string;
  /** `mqtt2pg drain --timeout` of the drain Jobs (--drain-timeout). */
  drainTimeout?: string;
  /** Sizes in effect when the autoscaler has moved them; otherwise the spec's. */
  flushers?: number;
  poolSize?: number;
  replicas?: number;
  /**
   * resourceVersion of every referenced Secret (name → version), so rotating one rolls the pods that read it.
   * Versions, never values: the pod annotations are readable by anyone who may view pods, and a hash of a
   * password can be guessed offline. Absent offline (`mqtt2pg render`): the hashes then leave Secrets out.
   */
  secretVersions?: Map<string, string>;
  /** The PostgreSQL credentials for PgBouncer's auth file. */
  pgCredentials?: PgBouncerCredentials;
  /** The migration role's, for the same file (sink.postgres.migrationCredentialsSecretRef). */
  migrationCredentials?: PgBouncerCredentials;
  /** The generated password of PgBouncer's admin user (operator/pgbouncer-admin.ts); absent offline. */
  pgbouncerAdminPassword?: string;
}

/** The versions of `secrets` (null offline), in name order. */
export function secretVersionsOf(names: string[], versions?: Map<string, string>): Array<[string, string]> | null {
  if (!versions) return null;
  return [...new Set(names)].sort().map((s) => [s, versions.get(s) ?? '']);
}

/** The Secrets PgBouncer's pods read: a new version of one rolls them. */
const pgbouncerSecretNames = (r: ResolvedPipeline) => {
  const pg = r.sink.postgres;
  return [pg.credentials.name, pg.ca?.name, pg.migrationCredentials?.name, r.sink.pgbouncer.clientTls?.name].filter(
    (n): n is string => n !== undefined,
  );
};

export function workerPodHash(
  p: IngestPipeline,
  r: ResolvedPipeline,
  flushers: number,
  secretVersions?: Map<string, string>,
) {
  const secrets = secretVersionsOf([...workerSecretKeys(r).keys()], secretVersions);
  return stableHash({ config: workerConfigHashInput(p, r, flushers), secrets });
}

/** The image the workers (and their drain Jobs) run: spec.image, else the operator's default. */
export const workerImageOf = (p: IngestPipeline, workerImage?: string) =>
  p.spec.image ?? workerImage ?? DEFAULT_WORKER_IMAGE;

export function renderAll(p: IngestPipeline, r: ResolvedPipeline, o: RenderOptions = {}): KubeObject[] {
  const out: KubeObject[] = [];
  out.push(...(renderRbac(p, r) as KubeObject[]));
  const flushers = o.flushers ?? r.flusher.flushers;
  out.push(renderWorkerConfig(p, r, { flushers }) as KubeObject);
  if (r.sink.pgbouncer.enabled) {
    out.push(
      ...(renderPgBouncer(p, r, {
        image: r.sink.pgbouncer.image ?? o.pgbouncerImage ?? DEFAULT_PGBOUNCER_IMAGE,
        poolSize: o.poolSize ?? r.sink.pgbouncer.poolSize,
        ...(o.pgCredentials ? { credentials: o.pgCredentials } : {}),
        ...(o.migrationCredentials ? { migrationCredentials: o.migrationCredentials } : {}),
        ...(o.pgbouncerAdminPassword ? { adminPassword: o.pgbouncerAdminPassword } : {}),
        secretVersions: secretVersionsOf(pgbouncerSecretNames(r), o.secretVersions),
      }) as KubeObject[]),
    );
  }
  out.push(
    renderWorker(p, r, {
      image: workerImageOf(p, o.workerImage),
      replicas: o.replicas ?? r.replicas,
      configHash: workerPodHash(p, r, flushers, o.secretVersions),
    }) as KubeObject,
  );
  out.push(renderPdb(p, r) as KubeObject);
  out.push(...(renderNetworkPolicies(p, r, o.operatorNamespace ?? DEFAULT_OPERATOR_NAMESPACE) as KubeObject[]));
  return out;
}
