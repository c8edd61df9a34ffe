// Gathering: one pipeline and the cluster around it → the input of decide(). The signals come fresh every
// round from each worker pod's /metrics (the round's pass of the one worker poll, operator/worker-poll.ts),
// PostgreSQL and the PgBouncer admin consoles (signals.ts); the sizes in effect, the last change and the
// connections of the other pipelines on the same database come from the informer caches. Each source fails on its own and lands in `signals.missing`, so the decision holds
// instead of the round failing.

import { checkPipeline } from '../../api/check.ts';
import type { ResolvedBasicAuthRef, ResolvedPipeline } from '../../api/defaults.ts';
import { effectiveSizes } from '../../api/sizes.ts';
import type { IngestPipeline, IngestPipelineStatus } from '../../api/types.ts';
import { pipelineKey } from '../cache-shapes.ts';
import { PGBOUNCER_PORT } from '../render/config.ts';
import { names, PIPELINE_LABEL } from '../render/meta.ts';
import { adminCredentials } from '../render/pgbouncer-admin.ts';
import type { InformerSet } from '../runtime/informer.ts';
import { type KubeObject, keyOf } from '../runtime/kube.ts';
import { secretText } from '../secrets.ts';
import { type Endpoint, type PodObject, podsOf, running } from '../worker-endpoint.ts';
import type { PodPoll } from '../worker-poll.ts';
import {
  connectionNeed,
  type DecideInput,
  limitsOf,
  type PgBouncerSignals,
  type PostgresSignals,
  type Signals,
  type WorkerSignals,
} from './decide.ts';
import { pgbouncerAdminTls, postgresMonitoringTls, type ReadSecret } from './monitoring-tls.ts';
import {
  type BouncerReading,
  combineBouncers,
  type PgTarget,
  type PodSample,
  PostgresProbe,
  podSample,
  readPgBouncer,
  workerSignals,
} from './signals.ts';

export type { Endpoint, PodObject };

export interface GatherOptions {
  /**
   * The PgBouncer admin consoles of a pipeline. Default: every running PgBouncer pod (podIP:6432), or the
   * pipeline's PgBouncer Service when no pod is visible yet.
   */
  pgbouncerEndpoints?: (r: ResolvedPipeline, pods: PodObject[]) => Endpoint[];
}

export interface GatherDeps {
  pipelines: InformerSet<IngestPipeline & KubeObject>;
  pods: InformerSet<PodObject>;
  /** Data (base64) of a Secret, or undefined when it does not exist (the reconciler's cached reader). */
  readSecret: (namespace: string, name: string) => Promise<Record<string, string> | undefined>;
  now: () => number;
}

/**
 * What gathering keeps of a pipeline between rounds: rates and the backlog trend are deltas against the
 * previous samples, and the PostgreSQL probe keeps its connection open while its target stays the same.
 */
export interface GatherState {
  samples: Map<string, PodSample>;
  backlog?: { atMs: number; backlog: number };
  probe?: { key: string; probe: PostgresProbe };
}

/** A PgBouncer admin console and what it reported this round (the pool size in effect, among others). */
export interface Bouncer {
  target: PgTarget;
  reading: BouncerReading;
}

export interface Gathered {
  input: DecideInput;
  /** The PgBouncers read this round: applying sets the pool size on those that run another one. */
  bouncers: Bouncer[];
}

/** Closes what the state holds open (the PostgreSQL probe's connection) when its pipeline goes away. */
export function closeGatherState(st: GatherState): void {
  st.probe?.probe.close();
}

export function defaultPgBouncerEndpoints(r: ResolvedPipeline, pods: PodObject[]): Endpoint[] {
  const ips = pods.filter(running).map((p) => ({ host: p.status?.podIP ?? '', port: PGBOUNCER_PORT }));
  return ips.length > 0 ? ips : [{ host: `${names(r.name).pgbouncer}.${r.namespace}.svc`, port: PGBOUNCER_PORT }];
}

/** The user and password in a Secret's data, or an error naming the spec field that refers to the Secret. */
export function credentialsFrom(
  data: Record<string, string> | undefined,
  ref: ResolvedBasicAuthRef,
  field: string,
  namespace: string,
): { user: string; password: string } {
  if (!data) throw new Error(`${field}: Secret "${ref.name}" not found in namespace ${namespace}`);
  if (data[ref.usernameKey] === undefined || data[ref.passwordKey] === undefined) {
    throw new Error(`${field}: Secret "${ref.name}" lacks key "${ref.usernameKey}" or "${ref.passwordKey}"`);
  }
  return { user: secretText(data[ref.usernameKey]), password: secretText(data[ref.passwordKey]) };
}

/**
 * Where the PostgreSQL counts are read: spec.autoscaling.postgresMonitoring when set, else the sink itself.
 * Without a monitoring Secret the pipeline's own user reads them (pg_stat_activity rows and pg_locks are
 * visible to every user; pg_monitor only adds query texts the autoscaler does not need). TLS follows the
 * sink's sslMode and CA either way: the monitoring endpoint is the same server (postgresTarget adds the CA).
 */
export function postgresSource(r: ResolvedPipeline): {
  server: Omit<PgTarget, 'user' | 'password'>;
  credentials: ResolvedBasicAuthRef;
  field: string;
} {
  const m = r.autoscaling.postgresMonitoring;
  const pgSink = r.sink.postgres;
  return {
    server: {
      host: m?.host ?? pgSink.host,
      port: m?.port ?? pgSink.port,
      database: m?.database ?? pgSink.database,
      ssl: pgSink.sslMode === 'disable' ? false : { mode: pgSink.sslMode },
    },
    credentials: m?.credentials ?? pgSink.credentials,
    field: m ? 'spec.autoscaling.postgresMonitoring.credentialsSecretRef' : 'spec.sink.postgres.credentialsSecretRef',
  };
}

/** The monitoring connection's target: postgresSource with its credentials and the CA read from their Secrets. */
export async function postgresTarget(r: ResolvedPipeline, readSecret: ReadSecret): Promise<PgTarget> {
  const source = postgresSource(r);
  try {
    const creds = credentialsFrom(
      await readSecret(r.namespace, source.credentials.name),
      source.credentials,
      source.field,
      r.namespace,
    );
    return { ...source.server, ssl: await postgresMonitoringTls(r, readSecret), ...creds };
  } catch (err) {
    throw new Error(`PostgreSQL: ${(err as Error).message}`);
  }
}

/**
 * Each cached pipeline object checked once: an informer replaces the object on every change, so its identity
 * is its version. Without it a round of each of 1,000 pipelines on one database validated the 999 others
 * (60 ms a round, four cores at a 15 s interval).
 */
const checkedObjects = new WeakMap<object, ResolvedPipeline | undefined>();
function resolvedOf(o: IngestPipeline & KubeObject): ResolvedPipeline | undefined {
  if (checkedObjects.has(o)) return checkedObjects.get(o);
  const checked = checkPipeline(o);
  const resolved = 'problem' in checked ? undefined : checked.resolved;
  checkedObjects.set(o, resolved);
  return resolved;
}

/** Connections the other pipelines writing to the same database may hold at their current sizes. */
export function otherPipelinesConnections(
  pipelines: Array<IngestPipeline & KubeObject>,
  key: string,
  r: ResolvedPipeline,
): number {
  const db = (x: ResolvedPipeline) => `${x.sink.postgres.host}:${x.sink.postgres.port}/${x.sink.postgres.database}`;
  let total = 0;
  for (const o of pipelines) {
    if (keyOf(o) === key || o.metadata.deletionTimestamp) continue;
    if (o.spec?.sink?.postgres?.host !== r.sink.postgres.host) continue; // cheap filter before validating
    const resolved = resolvedOf(o);
    if (!resolved || db(resolved) !== db(r)) continue;
    total += connectionNeed(effectiveSizes(o, resolved), limitsOf(resolved));
  }
  return total;
}

export class SignalGatherer {
  private readonly d: GatherDeps;
  private readonly o: GatherOptions;

  constructor(deps: GatherDeps, opts: GatherOptions = {}) {
    this.d = deps;
    this.o = opts;
  }

  /**
   * The decide() input for pipeline `p` (resolved as `r`). `stored` is the status the loop believes current
   * (its own last write when the cache has not caught up yet): it dates the last change, so a cooldown counts
   * from it.
   */
  async gather(
    p: IngestPipeline & KubeObject,
    r: ResolvedPipeline,
    stored: IngestPipelineStatus | undefined,
    st: GatherState,
    workers: PodPoll[],
  ): Promise<Gathered> {
    const limits = limitsOf(r);
    const current = effectiveSizes(p, r);
    const { signals, bouncers } = await this.signals(p, r, st, workers);
    const lastChange = stored?.autoscaling?.lastChangeTime ? Date.parse(stored.autoscaling.lastChangeTime) : Number.NaN;
    // Read after the signals: the other pipelines' sizes may have moved while this round waited on I/O.
    const others = otherPipelinesConnections(this.d.pipelines.list(), keyOf(p), r);
    const input: DecideInput = {
      signals,
      limits,
      current,
      ...(Number.isFinite(lastChange) ? { lastChangeMs: lastChange } : {}),
      now: this.d.now(),
      otherPipelinesConnections: others,
    };
    return { input, bouncers };
  }

  private async signals(
    p: IngestPipeline & KubeObject,
    r: ResolvedPipeline,
    st: GatherState,
    pass: PodPoll[],
  ): Promise<{ signals: Signals; bouncers: Bouncer[] }> {
    const missing: string[] = [];
    let workers: WorkerSignals | undefined;
    try {
      workers = this.workerSignals(p, r, st, pass);
    } catch (err) {
      missing.push(`worker metrics: ${(err as Error).message}`);
    }
    const [postgres, bouncer] = await Promise.all([
      this.postgresSignals(r, st).catch((err: Error) => {
        missing.push(err.message);
        return undefined;
      }),
      r.sink.pgbouncer.enabled
        ? this.pgbouncerSignals(r).catch((err: Error) => {
            missing.push(err.message);
            return undefined;
          })
        : Promise.resolve(undefined),
    ]);
    const signals: Signals = {
      ...(workers ? { workers } : {}),
      ...(postgres ? { postgres } : {}),
      ...(bouncer ? { pgbouncer: bouncer.signals } : {}),
      missing,
    };
    return { signals, bouncers: bouncer?.readings ?? [] };
  }

  private podsOf(r: ResolvedPipeline, component: 'worker' | 'pgbouncer'): PodObject[] {
    return podsOf(this.d.pods.byIndex(pipelineKey(r.namespace, r.name)), r.namespace, r.name, component);
  }

  /** The worker signals from this round's pass over the worker pods (worker-poll.ts): their /metrics. */
  private workerSignals(
    p: IngestPipeline & KubeObject,
    r: ResolvedPipeline,
    st: GatherState,
    pass: PodPoll[],
  ): WorkerSignals {
    // Every running pod, ready or not: a pod that is unready because its writes are stuck still holds a
    // backlog the decision must see.
    const pods = pass.filter((pod) => pod.ip !== undefined);
    if (pods.length === 0) {
      throw new Error(
        `no running worker pod with an IP (kubectl get pods -n ${r.namespace} -l ${PIPELINE_LABEL}=${p.metadata.name},app.kubernetes.io/component=worker)`,
      );
    }
    const samples = pods.map((pod) => {
      const m = pod.readings.metrics;
      if (!m) throw new Error(`pod ${pod.pod}: /metrics was not asked`);
      if ('error' in m) throw new Error(`pod ${pod.pod} (${m.url ?? pod.ip}): ${m.error}`);
      return podSample(pod.pod, pod.uid, pod.atMs, m.text);
    });
    const w = workerSignals(samples, st.samples, st.backlog);
    st.samples = new Map(samples.map((s) => [s.uid, s]));
    st.backlog = { atMs: Math.max(...samples.map((s) => s.atMs)), backlog: w.backlog };
    return w;
  }

  private async credentials(r: ResolvedPipeline, ref: ResolvedBasicAuthRef, field: string) {
    return credentialsFrom(await this.d.readSecret(r.namespace, ref.name), ref, field, r.namespace);
  }

  private async postgresSignals(r: ResolvedPipeline, st: GatherState): Promise<PostgresSignals> {
    const target = await postgresTarget(r, this.d.readSecret);
    const key = JSON.stringify(target);
    if (st.probe?.key !== key) {
      st.probe?.probe.close();
      st.probe = { key, probe: new PostgresProbe(target) };
    }
    return st.probe.probe.read();
  }

  private async pgbouncerSignals(r: ResolvedPipeline): Promise<{ signals: PgBouncerSignals; readings: Bouncer[] }> {
    // The pools are the pipeline user's; the admin console is entered as the operator's own admin user.
    const pool = await this.credentials(r, r.sink.postgres.credentials, 'spec.sink.postgres.credentialsSecretRef');
    const admin = adminCredentials(await this.d.readSecret(r.namespace, names(r.name).pgbouncerAdmin), r);
    const endpoints = (this.o.pgbouncerEndpoints ?? defaultPgBouncerEndpoints)(r, this.podsOf(r, 'pgbouncer'));
    const ssl = await pgbouncerAdminTls(r, this.d.readSecret);
    const readings = await Promise.all(
      endpoints.map(async (e) => {
        const target: PgTarget = { host: e.host, port: e.port, database: 'pgbouncer', ...admin, ssl };
        return { target, reading: await readPgBouncer(target, r.sink.postgres.database, pool.user) };
      }),
    );
    return { signals: combineBouncers(readings.map((x) => x.reading)), readings };
  }
}
