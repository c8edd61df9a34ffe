// Applying: a decision → what the user and the cluster see. The sizes go to status.autoscaling (the
// reconciler renders worker replicas, the worker ConfigMap and the PgBouncer ConfigMap from
// status.autoscaling.current; the workers watch their IngestPipeline and change their flusher count live),
// an Event tells `kubectl describe ingp` about each change, and the pool size is set on the running PgBouncer
// pods through their admin console. The spec is never written (GitOps tools stay in sync).
//
// Status is written only when a size, the desired sizes or the kind of decision changes (and the rate and
// backlog columns at most once a minute), so a steady pipeline causes no status churn. What to write is
// computed by pure functions (statusWrite, decisionEvent) so every case is a row in apply.test.ts.

import type { Logger } from 'pino';
import type { IngestPipeline, IngestPipelineStatus, ScaleTriple } from '../../api/types.ts';
import type { EventSink } from '../events.ts';
import { PIPELINES } from '../kinds.ts';
import { type KubeClient, type KubeObject, objectPath } from '../runtime/kube.ts';
import { isoSeconds } from '../status.ts';
import { type DecideInput, type Decision, describeSizes, type Signals, type Sizes } from './decide.ts';
import type { Bouncer, Gathered } from './gather.ts';
import { setPgBouncerPoolSize } from './signals.ts';

/** The rate and backlog columns of `kubectl get ingp` are refreshed at most this often. */
export const METRICS_REFRESH_MS = 60_000;

/** What the loop remembers of its own status writes between rounds. */
export interface WriteRecord {
  /** The status last written and the resourceVersion it was written over (the informer cache may lag). */
  written?: { overRv: string; status: IngestPipelineStatus };
  lastMetricsWriteMs: number;
}

export interface AutoscalingEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export const DISABLED_EVENT: AutoscalingEvent = {
  type: 'Normal',
  reason: 'AutoscalingDisabled',
  message: 'autoscaling.enabled is false: sizes follow the spec',
};

/** A status merge patch, and whether it records a new decision (false: only the rate and backlog columns). */
export interface StatusWrite {
  patch: Record<string, unknown>;
  decisionChanged: boolean;
}

const round = (v: number | undefined, digits = 0) =>
  v === undefined || !Number.isFinite(v) ? null : Number(v.toFixed(digits));

const sameSizes = (a: Sizes, b: Sizes) =>
  a.flushers === b.flushers && a.poolSize === b.poolSize && a.replicas === b.replicas;

const sameTriple = (a: ScaleTriple | undefined, b: Sizes) =>
  a?.flushers === b.flushers && a?.poolSize === b.poolSize && a?.replicas === b.replicas;

/**
 * The status to compare a decision with: the loop's own last write while the cache still shows the object
 * it was written over, else the cached status. Without this, a round right after a write would see the old
 * status, think the decision new and write (and announce) it again.
 */
export function storedStatus(p: IngestPipeline & KubeObject, rec: WriteRecord): IngestPipelineStatus | undefined {
  return rec.written && rec.written.overRv === p.metadata.resourceVersion ? rec.written.status : p.status;
}

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

/**
 * The status patch for a decision, or undefined when nothing worth a write changed: the whole autoscaling
 * record (with the columns) when a size, the desired sizes or the decision code changed, else only the
 * columns when they moved and the last write is METRICS_REFRESH_MS old.
 */
export function statusWrite(
  input: DecideInput,
  d: Decision,
  stored: IngestPipelineStatus | undefined,
  lastMetricsWriteMs: number,
): StatusWrite | undefined {
  const { signals, current, now } = input;
  const previous = stored?.autoscaling;
  const changed = !sameSizes(d.next, current);
  const at = isoSeconds(new Date(now));
  const autoscaling = {
    current: { ...d.next },
    desired: { ...d.desired },
    reason: d.reason,
    lastChangeTime: changed ? at : (previous?.lastChangeTime ?? at),
    signals: signalRecord(signals, d, input.otherPipelinesConnections),
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
    !sameTriple(previous.current, d.next) ||
    !sameTriple(previous.desired, d.desired) ||
    (previous.signals as { decision?: string } | undefined)?.decision !== d.code;
  if (decisionChanged) return { patch: { autoscaling, ...columns }, decisionChanged };
  const columnsDue =
    w !== undefined &&
    now - lastMetricsWriteMs >= METRICS_REFRESH_MS &&
    (stored?.backlog !== columns.backlog || stored?.ingestRate !== columns.ingestRate);
  return columnsDue ? { patch: columns, decisionChanged } : undefined;
}

/**
 * The Event for a decision: one per size change (a back-off is a Warning), and a Warning the first round the
 * size is held because a signal could not be read.
 */
export function decisionEvent(input: DecideInput, d: Decision, decisionChanged: boolean): AutoscalingEvent | undefined {
  const { current, limits } = input;
  if (!sameSizes(d.next, current)) {
    const reason =
      d.code === 'BackOff'
        ? 'BackedOff'
        : d.direction === 'up'
          ? 'ScaledUp'
          : d.direction === 'down'
            ? 'ScaledDown'
            : 'Scaled';
    return {
      type: d.code === 'BackOff' ? 'Warning' : 'Normal',
      reason,
      message: `${describeSizes(current, limits)} → ${describeSizes(d.next, limits)}: ${d.reason}`,
    };
  }
  if (decisionChanged && d.code === 'HoldSignalsMissing') {
    return { type: 'Warning', reason: 'AutoscalingHeld', message: d.reason };
  }
  return undefined;
}

/** The PgBouncers whose pool size in effect differs from the decided one. */
export const bouncersToResize = (bouncers: Bouncer[], poolSize: number) =>
  bouncers.filter((b) => b.reading.defaultPoolSize !== poolSize);

export interface ApplyDeps {
  client: KubeClient;
  events: EventSink;
  /** Counts a decision that changed (mqtt2pg_operator_autoscaler_decisions_total). */
  onDecision?: (decision: string, direction: string) => void;
}

export class DecisionApplier {
  private readonly d: ApplyDeps;

  constructor(deps: ApplyDeps) {
    this.d = deps;
  }

  /** Status, then the Event, then the running PgBouncers: a failed status write fails the round before either. */
  async apply(
    p: IngestPipeline & KubeObject,
    { input, bouncers }: Gathered,
    d: Decision,
    stored: IngestPipelineStatus | undefined,
    rec: WriteRecord,
    log: Logger,
  ): Promise<void> {
    const write = statusWrite(input, d, stored, rec.lastMetricsWriteMs);
    if (write) {
      await this.patchStatus(p, write.patch, rec);
      rec.lastMetricsWriteMs = input.now;
      if (write.decisionChanged) {
        this.d.onDecision?.(d.code, d.direction);
        log.info({ decision: d.code, direction: d.direction, current: d.next, desired: d.desired }, d.reason);
      }
    }
    const event = decisionEvent(input, d, write?.decisionChanged ?? false);
    if (event) this.d.events.emit(p, event.type, event.reason, event.message);
    // The pool size in effect, on every PgBouncer that runs another one (a new pod, or a RELOAD of a file the
    // kubelet had not refreshed yet): checked every round, so it converges whatever happened in between.
    if (input.limits.pgbouncer)
      await this.setPoolSize(bouncersToResize(bouncers, d.next.poolSize), d.next.poolSize, log);
  }

  /**
   * Autoscaling turned off: sizes are pinned to the spec again; drop the autoscaler's record so that turning
   * it back on starts from the spec, not from a size chosen under other conditions long ago.
   */
  async disable(
    p: IngestPipeline & KubeObject,
    stored: IngestPipelineStatus | undefined,
    rec: WriteRecord,
    log: Logger,
  ): Promise<void> {
    if (!stored?.autoscaling) return;
    await this.patchStatus(p, { autoscaling: null }, rec);
    this.d.events.emit(p, DISABLED_EVENT.type, DISABLED_EVENT.reason, DISABLED_EVENT.message);
    log.info('autoscaling disabled; sizes follow the spec');
  }

  private async setPoolSize(bouncers: Bouncer[], poolSize: number, log: Logger): Promise<void> {
    for (const b of bouncers) {
      try {
        await setPgBouncerPoolSize(b.target, poolSize);
        log.info(
          { pgbouncer: `${b.target.host}:${b.target.port}`, from: b.reading.defaultPoolSize, to: poolSize },
          'PgBouncer pool size applied',
        );
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'could not apply the PgBouncer pool size; retrying next interval');
      }
    }
  }

  private async patchStatus(p: IngestPipeline & KubeObject, patch: Record<string, unknown>, rec: WriteRecord) {
    const ns = p.metadata.namespace ?? 'default';
    const res = await this.d.client.request<IngestPipeline & KubeObject>(
      'PATCH',
      `${objectPath(PIPELINES, ns, p.metadata.name)}/status`,
      { body: { status: patch }, contentType: 'application/merge-patch+json' },
    );
    rec.written = { overRv: p.metadata.resourceVersion ?? '', status: res.status ?? {} };
  }
}
