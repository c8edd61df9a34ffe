// The autoscaling loop: every spec.autoscaling.interval, per pipeline with autoscaling enabled, read the
// signals (signals.ts), decide (decide.ts), and apply. Applying is writing status.autoscaling: the reconciler
// renders the sizes from status.autoscaling.current (worker ConfigMap and Deployment/StatefulSet replicas,
// PgBouncer ConfigMap), the workers watch their IngestPipeline and apply the flusher count live, and this
// loop sets the pool size on the running PgBouncer pods through their admin console. The spec is never
// written (GitOps tools stay in sync).
//
// Status is written only when a size, the desired sizes or the kind of decision changes (and the rate and
// backlog columns at most once a minute), so a steady pipeline causes no status churn.

import type { Logger } from 'pino';
import { checkPipeline } from '../../api/check.ts';
import type { ResolvedPipeline } from '../../api/defaults.ts';
import { effectiveSizes } from '../../api/sizes.ts';
import type { IngestPipeline, IngestPipelineStatus, ScaleTriple } from '../../api/types.ts';
import { parseDurationMs } from '../../api/units.ts';
import type { EventSink } from '../events.ts';
import { PIPELINES } from '../kinds.ts';
import { PGBOUNCER_PORT } from '../render/config.ts';
import { names, PIPELINE_LABEL } from '../render/meta.ts';
import { METRICS_PORT } from '../render/worker.ts';
import type { InformerSet } from '../runtime/informer.ts';
import { type KubeClient, type KubeObject, keyOf, objectPath } from '../runtime/kube.ts';
import { isoSeconds } from '../status.ts';
import {
  connectionNeed,
  type Decision,
  decide,
  describeSizes,
  limitsOf,
  type PgBouncerSignals,
  type PostgresSignals,
  type Signals,
  type Sizes,
  type WorkerSignals,
} from './decide.ts';
import {
  type BouncerReading,
  combineBouncers,
  type PgTarget,
  type PodSample,
  PostgresProbe,
  podSample,
  readPgBouncer,
  scrape,
  setPgBouncerPoolSize,
  workerSignals,
} from './signals.ts';

export interface Endpoint {
  host: string;
  port: number;
}

export interface AutoscalerOptions {
  /**
   * Where a worker pod serves /metrics. Default: its podIP and the container port named `metrics` (9090).
   * Tests running workers as local processes point this at 127.0.0.x and their chosen ports.
   */
  metricsAddress?: (pod: PodObject) => Endpoint | undefined;
  /**
   * The PgBouncer admin consoles of a pipeline. Default: every running PgBouncer pod (podIP:6432), or the
   * pipeline's PgBouncer Service when no pod is visible yet.
   */
  pgbouncerEndpoints?: (r: ResolvedPipeline, pods: PodObject[]) => Endpoint[];
  /** How often the loop looks for pipelines whose interval has passed (default 1 s). */
  tickMs?: number;
  now?: () => number;
}

export interface AutoscalerDeps {
  client: KubeClient;
  pipelines: InformerSet<IngestPipeline & KubeObject>;
  pods: InformerSet<PodObject>;
  /** Data (base64) of a Secret, or undefined when it does not exist (the reconciler's cached reader). */
  readSecret: (namespace: string, name: string) => Promise<Record<string, string> | undefined>;
  events: EventSink;
  log: Logger;
}

export interface PodObject extends KubeObject {
  spec?: { containers?: Array<{ name: string; ports?: Array<{ name?: string; containerPort: number }> }> };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
  };
}

interface PipelineState {
  lastRunMs: number;
  running: boolean;
  samples: Map<string, PodSample>;
  backlog?: { atMs: number; backlog: number };
  /** The autoscaling status last written and the resourceVersion it was written over (the cache may lag). */
  written?: { overRv: string; status: IngestPipelineStatus };
  lastMetricsWriteMs: number;
  probe?: { key: string; probe: PostgresProbe };
}

const DEFAULT_INTERVAL_MS = 15_000;
const METRICS_REFRESH_MS = 60_000;

const decode = (b64: string | undefined) =>
  Buffer.from(b64 ?? '', 'base64')
    .toString('utf8')
    .replace(/\r?\n$/, '');

const round = (v: number | undefined, digits = 0) =>
  v === undefined || !Number.isFinite(v) ? null : Number(v.toFixed(digits));

/** Pods that run a process worth asking: Running, with an IP, not on their way out. */
const running = (p: PodObject) => p.status?.phase === 'Running' && !!p.status.podIP && !p.metadata.deletionTimestamp;

export function defaultMetricsAddress(pod: PodObject): Endpoint | undefined {
  if (!pod.status?.podIP) return undefined;
  const port =
    pod.spec?.containers?.flatMap((c) => c.ports ?? []).find((p) => p.name === 'metrics')?.containerPort ??
    METRICS_PORT;
  return { host: pod.status.podIP, port };
}

export function defaultPgBouncerEndpoints(r: ResolvedPipeline, pods: PodObject[]): Endpoint[] {
  const ips = pods.filter(running).map((p) => ({ host: p.status?.podIP ?? '', port: PGBOUNCER_PORT }));
  return ips.length > 0 ? ips : [{ host: `${names(r.name).pgbouncer}.${r.namespace}.svc`, port: PGBOUNCER_PORT }];
}

export class Autoscaler {
  private readonly d: AutoscalerDeps;
  private readonly o: AutoscalerOptions;
  private readonly state = new Map<string, PipelineState>();
  private timer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(deps: AutoscalerDeps, opts: AutoscalerOptions = {}) {
    this.d = deps;
    this.o = opts;
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.o.tickMs ?? 1_000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight]);
    for (const s of this.state.values()) s.probe?.probe.close();
    this.state.clear();
  }

  /** Starts a round for every pipeline whose interval has passed (and that is not mid-round). */
  tick(): void {
    const now = this.now();
    const seen = new Set<string>();
    for (const p of this.d.pipelines.list()) {
      const key = keyOf(p);
      seen.add(key);
      const auto = p.spec?.autoscaling;
      if (!auto?.enabled && !p.status?.autoscaling) continue;
      let st = this.state.get(key);
      if (!st) {
        st = { lastRunMs: 0, running: false, samples: new Map(), lastMetricsWriteMs: 0 };
        this.state.set(key, st);
      }
      let interval = DEFAULT_INTERVAL_MS;
      try {
        interval = auto?.interval ? parseDurationMs(auto.interval) : DEFAULT_INTERVAL_MS;
      } catch {
        // An invalid interval is reported by the reconciler (InvalidSpec); keep the default meanwhile.
      }
      if (st.running || now - st.lastRunMs < interval) continue;
      st.running = true;
      st.lastRunMs = now;
      const state = st;
      const work = this.round(key, state)
        .catch((err: Error) =>
          this.d.log.warn(
            { namespace: p.metadata.namespace, name: p.metadata.name, err: err.message },
            'autoscaling round failed; retrying next interval',
          ),
        )
        .finally(() => {
          state.running = false;
          this.inFlight.delete(work);
        });
      this.inFlight.add(work);
    }
    for (const [key, st] of this.state) {
      if (seen.has(key) || st.running) continue;
      st.probe?.probe.close();
      this.state.delete(key);
    }
  }

  /** One round for one pipeline: signals → decision → status, Events, PgBouncer pool. */
  async round(key: string, st: PipelineState): Promise<void> {
    const p = this.d.pipelines.get(key);
    if (!p || p.metadata.deletionTimestamp) return;
    const ns = p.metadata.namespace ?? 'default';
    const log = this.d.log.child({ namespace: ns, name: p.metadata.name });
    const stored = st.written && st.written.overRv === p.metadata.resourceVersion ? st.written.status : p.status;
    const checked = checkPipeline(p);
    if ('problem' in checked) return; // the reconciler reports it as Degraded
    const r = checked.resolved;
    if (!r.autoscaling.enabled) {
      // Turned off: sizes are pinned to the spec again; drop the autoscaler's record so that turning it
      // back on starts from the spec, not from a size chosen under other conditions long ago.
      if (stored?.autoscaling) {
        await this.patchStatus(p, { autoscaling: null }, st);
        this.d.events.emit(p, 'Normal', 'AutoscalingDisabled', 'autoscaling.enabled is false: sizes follow the spec');
        log.info('autoscaling disabled; sizes follow the spec');
      }
      return;
    }

    const limits = limitsOf(r);
    const current: Sizes = effectiveSizes(p, r);
    const { signals, bouncers } = await this.gather(p, r, st);
    const lastChange = stored?.autoscaling?.lastChangeTime ? Date.parse(stored.autoscaling.lastChangeTime) : Number.NaN;
    const others = this.otherPipelinesConnections(key, r);
    const now = this.now();
    const decision = decide({
      signals,
      limits,
      current,
      ...(Number.isFinite(lastChange) ? { lastChangeMs: lastChange } : {}),
      now,
      otherPipelinesConnections: others,
    });

    const changed = !sameSizes(decision.next, current);
    const previous = stored?.autoscaling;
    const autoscaling = {
      current: { ...decision.next },
      desired: { ...decision.desired },
      reason: decision.reason,
      lastChangeTime: changed ? isoSeconds(new Date(now)) : (previous?.lastChangeTime ?? isoSeconds(new Date(now))),
      signals: signalRecord(signals, decision, others),
    };
    const w = signals.workers;
    const columns = w
      ? {
          ingestRate: round(w.ingestRate, 1),
          backlog: w.backlog,
          oldestUnflushedSeconds: round(w.oldestUnflushedAgeMs / 1000, 1),
        }
      : {};
    const decisionChanged =
      !previous ||
      !sameTriple(previous.current, decision.next) ||
      !sameTriple(previous.desired, decision.desired) ||
      (previous.signals as { decision?: string } | undefined)?.decision !== decision.code;
    const columnsDue =
      w !== undefined &&
      now - st.lastMetricsWriteMs >= METRICS_REFRESH_MS &&
      (stored?.backlog !== columns.backlog || stored?.ingestRate !== columns.ingestRate);
    if (decisionChanged) {
      await this.patchStatus(p, { autoscaling, ...columns }, st);
      st.lastMetricsWriteMs = now;
      log.info(
        { decision: decision.code, direction: decision.direction, current: decision.next, desired: decision.desired },
        decision.reason,
      );
    } else if (columnsDue) {
      await this.patchStatus(p, columns, st);
      st.lastMetricsWriteMs = now;
    }

    if (changed) {
      const type = decision.code === 'BackOff' ? 'Warning' : 'Normal';
      const reason =
        decision.code === 'BackOff'
          ? 'BackedOff'
          : decision.direction === 'up'
            ? 'ScaledUp'
            : decision.direction === 'down'
              ? 'ScaledDown'
              : 'Scaled';
      this.d.events.emit(
        p,
        type,
        reason,
        `${describeSizes(current, limits)} → ${describeSizes(decision.next, limits)}: ${decision.reason}`,
      );
    } else if (decisionChanged && decision.code === 'HoldSignalsMissing') {
      this.d.events.emit(p, 'Warning', 'AutoscalingHeld', decision.reason);
    }

    // The pool size in effect, on every PgBouncer that runs another one (a new pod, or a RELOAD of a file the
    // kubelet had not refreshed yet): checked every round, so it converges whatever happened in between.
    if (limits.pgbouncer) {
      for (const b of bouncers) {
        if (b.reading.defaultPoolSize === decision.next.poolSize) continue;
        try {
          await setPgBouncerPoolSize(b.target, decision.next.poolSize);
          log.info(
            {
              pgbouncer: `${b.target.host}:${b.target.port}`,
              from: b.reading.defaultPoolSize,
              to: decision.next.poolSize,
            },
            'PgBouncer pool size applied',
          );
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'could not apply the PgBouncer pool size; retrying next interval');
        }
      }
    }
  }

  private async gather(
    p: IngestPipeline & KubeObject,
    r: ResolvedPipeline,
    st: PipelineState,
  ): Promise<{ signals: Signals; bouncers: Array<{ target: PgTarget; reading: BouncerReading }> }> {
    const missing: string[] = [];
    const [workers, postgres, bouncer] = await Promise.all([
      this.workerSignals(p, r, st).catch((err: Error) => {
        missing.push(`worker metrics: ${err.message}`);
        return undefined;
      }),
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
    return this.d.pods
      .list()
      .filter(
        (pod) =>
          pod.metadata.namespace === r.namespace &&
          pod.metadata.labels?.[PIPELINE_LABEL] === r.name &&
          pod.metadata.labels?.['app.kubernetes.io/component'] === component,
      );
  }

  private async workerSignals(
    p: IngestPipeline & KubeObject,
    r: ResolvedPipeline,
    st: PipelineState,
  ): Promise<WorkerSignals> {
    // Every running pod, ready or not: a pod that is unready because its writes are stuck still holds a
    // backlog the decision must see.
    const pods = this.podsOf(r, 'worker').filter(running);
    if (pods.length === 0) {
      throw new Error(
        `no running worker pod with an IP (kubectl get pods -n ${r.namespace} -l ${PIPELINE_LABEL}=${p.metadata.name},app.kubernetes.io/component=worker)`,
      );
    }
    const address = this.o.metricsAddress ?? defaultMetricsAddress;
    const samples = await Promise.all(
      pods.map(async (pod) => {
        const at = address(pod);
        if (!at) throw new Error(`pod ${pod.metadata.name} has no address`);
        const text = await scrape(pod.metadata.name, at.host, at.port);
        return podSample(pod.metadata.name, pod.metadata.uid ?? pod.metadata.name, this.now(), text);
      }),
    );
    const w = workerSignals(samples, st.samples, st.backlog);
    st.samples = new Map(samples.map((s) => [s.uid, s]));
    st.backlog = { atMs: Math.max(...samples.map((s) => s.atMs)), backlog: w.backlog };
    return w;
  }

  private async credentials(
    r: ResolvedPipeline,
    ref: { name: string; usernameKey: string; passwordKey: string },
    field: string,
  ): Promise<{ user: string; password: string }> {
    const data = await this.d.readSecret(r.namespace, ref.name);
    if (!data) throw new Error(`${field}: Secret "${ref.name}" not found in namespace ${r.namespace}`);
    if (data[ref.usernameKey] === undefined || data[ref.passwordKey] === undefined) {
      throw new Error(`${field}: Secret "${ref.name}" lacks key "${ref.usernameKey}" or "${ref.passwordKey}"`);
    }
    return { user: decode(data[ref.usernameKey]), password: decode(data[ref.passwordKey]) };
  }

  private async postgresSignals(r: ResolvedPipeline, st: PipelineState): Promise<PostgresSignals> {
    // Without a monitoring Secret, the pipeline's own user reads the counts (pg_stat_activity rows and
    // pg_locks are visible to every user; pg_monitor only adds query texts the autoscaler does not need).
    const m = r.autoscaling.postgresMonitoring;
    const pgSink = r.sink.postgres;
    const field = m
      ? 'spec.autoscaling.postgresMonitoring.credentialsSecretRef'
      : 'spec.sink.postgres.credentialsSecretRef';
    const creds = await this.credentials(r, m?.credentials ?? pgSink.credentials, field).catch((err: Error) => {
      throw new Error(`PostgreSQL: ${err.message}`);
    });
    const target: PgTarget = {
      host: m?.host ?? pgSink.host,
      port: m?.port ?? pgSink.port,
      database: m?.database ?? pgSink.database,
      ...creds,
      ssl: pgSink.sslMode !== 'disable',
    };
    const key = JSON.stringify(target);
    if (st.probe?.key !== key) {
      st.probe?.probe.close();
      st.probe = { key, probe: new PostgresProbe(target) };
    }
    return st.probe.probe.read();
  }

  private async pgbouncerSignals(
    r: ResolvedPipeline,
  ): Promise<{ signals: PgBouncerSignals; readings: Array<{ target: PgTarget; reading: BouncerReading }> }> {
    const creds = await this.credentials(r, r.sink.postgres.credentials, 'spec.sink.postgres.credentialsSecretRef');
    const endpoints = (this.o.pgbouncerEndpoints ?? defaultPgBouncerEndpoints)(r, this.podsOf(r, 'pgbouncer'));
    const readings = await Promise.all(
      endpoints.map(async (e) => {
        const target: PgTarget = { host: e.host, port: e.port, database: 'pgbouncer', ...creds, ssl: false };
        return { target, reading: await readPgBouncer(target, r.sink.postgres.database, creds.user) };
      }),
    );
    return { signals: combineBouncers(readings.map((x) => x.reading)), readings };
  }

  /** Connections the other pipelines writing to the same database may hold at their current sizes. */
  private otherPipelinesConnections(key: string, r: ResolvedPipeline): number {
    const db = (x: ResolvedPipeline) => `${x.sink.postgres.host}:${x.sink.postgres.port}/${x.sink.postgres.database}`;
    let total = 0;
    for (const o of this.d.pipelines.list()) {
      if (keyOf(o) === key || o.metadata.deletionTimestamp) continue;
      if (o.spec?.sink?.postgres?.host !== r.sink.postgres.host) continue; // cheap filter before validating
      const checked = checkPipeline(o);
      if ('problem' in checked || db(checked.resolved) !== db(r)) continue;
      total += connectionNeed(effectiveSizes(o, checked.resolved), limitsOf(checked.resolved));
    }
    return total;
  }

  private async patchStatus(
    p: IngestPipeline & KubeObject,
    patch: Record<string, unknown>,
    st: PipelineState,
  ): Promise<void> {
    const ns = p.metadata.namespace ?? 'default';
    const res = await this.d.client.request<IngestPipeline & KubeObject>(
      'PATCH',
      `${objectPath(PIPELINES, ns, p.metadata.name)}/status`,
      { body: { status: patch }, contentType: 'application/merge-patch+json' },
    );
    st.written = { overRv: p.metadata.resourceVersion ?? '', status: res.status ?? {} };
  }
}

const sameSizes = (a: Sizes, b: Sizes) =>
  a.flushers === b.flushers && a.poolSize === b.poolSize && a.replicas === b.replicas;

const sameTriple = (a: ScaleTriple | undefined, b: Sizes) =>
  a?.flushers === b.flushers && a?.poolSize === b.poolSize && a?.replicas === b.replicas;

/** The signals a decision used, flat and rounded, every key present (null: not measured). */
export function signalRecord(s: Signals, d: Decision, others: number): Record<string, unknown> {
  const w = s.workers;
  const pg = s.postgres;
  const b = s.pgbouncer;
  return {
    decision: d.code,
    direction: d.direction,
    rung: d.rung ?? null,
    pods: w?.pods ?? null,
    backlog: w?.backlog ?? null,
    backlogTrendPerSecond: round(w?.backlogTrendPerSec),
    oldestUnflushedSeconds: round(w ? w.oldestUnflushedAgeMs / 1000 : undefined, 1),
    ingestRate: round(w?.ingestRate),
    flushRate: round(w?.flushRate),
    batchLatencyMs: round(w?.batchLatencyMs, 1),
    flusherBusy: round(w?.busyFraction, 2),
    activeFlushers: w?.activeFlushers ?? null,
    backpressure: w?.backpressure ?? null,
    postgresConnectionsUsed: pg?.connectionsUsed ?? null,
    postgresConnectionsMax: pg?.maxConnections ?? null,
    postgresCommitLatencyMs: round(pg?.commitLatencyMs, 1),
    postgresLockWaits: pg?.lockWaits ?? null,
    otherPipelinesConnections: others,
    pgbouncerClWaiting: b?.clWaiting ?? null,
    pgbouncerMaxWaitMs: round(b?.maxWaitMs),
    pgbouncerServerActive: b?.svActive ?? null,
    pgbouncerServerIdle: b?.svIdle ?? null,
    missing: s.missing,
  };
}
