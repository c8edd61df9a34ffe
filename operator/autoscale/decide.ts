// The autoscaling decision, as a pure function: signals + bounds + the sizes in effect + the time of the last
// change → the sizes to run next and why. No I/O, no clock: the caller passes `now`, so every situation is a
// row in decide.test.ts.
//
// The ladder (DESIGN, "Operator surface"): flushers per pod first (cheapest: one more COPY connection in a
// running process), then the PgBouncer pool (server connections the flushers can actually use), then worker
// pods. Each step up needs pressure (the backlog grows, or its oldest message is older than the target) AND
// PostgreSQL headroom (connections free for this pipeline and every other pipeline on that database, no
// clients queued in PgBouncer, commit latency under target, no lock waits). Adding writers to a saturated
// database makes it slower, so saturation never scales up: it backs off one step (reverse ladder) per down
// cooldown. A drained backlog scales down one step at a time, only when the remaining flushers can carry
// the load (hysteresis: no flapping between two sizes).

import type { ResolvedPipeline } from '../../api/defaults.ts';
import { clampSizes, type SizeBounds, type Sizes } from '../../api/sizes.ts';

export type { Sizes };

export type Rung = keyof Sizes;

export interface WorkerSignals {
  /** Worker pods whose /metrics were read. */
  pods: number;
  /** Messages acknowledged but not committed, across pods (mqtt2pg_wal_messages). */
  backlog: number;
  /** Backlog change per second since the previous sample; undefined on the first sample. */
  backlogTrendPerSec?: number;
  /** The oldest uncommitted message across pods, in ms. */
  oldestUnflushedAgeMs: number;
  /** Messages received per second (delta of mqtt2pg_received_total); undefined on the first sample. */
  ingestRate?: number;
  /** Rows committed per second (delta of mqtt2pg_flushed_rows_total). */
  flushRate?: number;
  /** Mean batch time over the interval (mqtt2pg_batch_duration_seconds); undefined without batches. */
  batchLatencyMs?: number;
  /** Fraction of the interval the flushers spent writing (batch time / (interval × flushers)), 0..1. */
  busyFraction?: number;
  /** Flushers running across pods (mqtt2pg_flushers). */
  activeFlushers: number;
  /** Some pod stopped reading from the broker because its WAL is full. */
  backpressure: boolean;
}

export interface PostgresSignals {
  /** max_connections − superuser_reserved_connections: what non-superusers may open. */
  maxConnections: number;
  /** Client backends now (every user, every pipeline, every tool). */
  connectionsUsed: number;
  commitLatencyMs: number;
  /** Locks some session of this database waits for (pg_locks, not granted). */
  lockWaits: number;
}

export interface PgBouncerSignals {
  clWaiting: number;
  maxWaitMs: number;
  svActive: number;
  svIdle: number;
  /** Mean transaction time PgBouncer saw (SHOW STATS avg_xact_time), when it reports one. */
  avgXactMs?: number;
}

export interface Signals {
  workers?: WorkerSignals;
  postgres?: PostgresSignals;
  /** Absent when the pipeline runs without PgBouncer, or when it could not be read (then in `missing`). */
  pgbouncer?: PgBouncerSignals;
  /** What could not be read, each naming the source and the error. Non-empty: the size is held. */
  missing: string[];
}

export interface Limits {
  minFlushers: number;
  maxFlushers: number;
  minPoolSize: number;
  maxPoolSize: number;
  minReplicas: number;
  maxReplicas: number;
  pgbouncer: boolean;
  pgbouncerReplicas: number;
  batchSize: number;
  targetOldestUnflushedAgeMs: number;
  targetCommitLatencyMs: number;
  scaleUpCooldownMs: number;
  scaleDownCooldownMs: number;
}

export function limitsOf(r: ResolvedPipeline): Limits {
  const a = r.autoscaling;
  return {
    minFlushers: r.flusher.minFlushers,
    maxFlushers: r.flusher.maxFlushers,
    minPoolSize: a.minPoolSize,
    maxPoolSize: a.maxPoolSize,
    minReplicas: a.minReplicas,
    maxReplicas: a.maxReplicas,
    pgbouncer: r.sink.pgbouncer.enabled,
    pgbouncerReplicas: Math.max(1, r.sink.pgbouncer.replicas),
    batchSize: r.flusher.batchSize,
    targetOldestUnflushedAgeMs: a.targetOldestUnflushedAgeMs,
    targetCommitLatencyMs: a.targetCommitLatencyMs,
    scaleUpCooldownMs: a.scaleUpCooldownMs,
    scaleDownCooldownMs: a.scaleDownCooldownMs,
  };
}

export interface DecideInput {
  signals: Signals;
  limits: Limits;
  /** Sizes in effect now. */
  current: Sizes;
  /** When the sizes last changed (ms since the epoch); undefined if never. */
  lastChangeMs?: number;
  now: number;
  /**
   * PostgreSQL connections the other pipelines on the same database may open at their current sizes
   * (connectionNeed of each): a step up must leave room for them even while they are idle.
   */
  otherPipelinesConnections: number;
}

export type Direction = 'up' | 'down' | 'hold';

export interface Decision {
  /** Sizes to run from now on. */
  next: Sizes;
  /** Sizes the signals ask for (differs from next while a cooldown or headroom blocks the step). */
  desired: Sizes;
  direction: Direction;
  /** The rung that moved (or would move). */
  rung?: Rung;
  /**
   * Stable kind of decision (e.g. "ScaleUp", "HoldSaturated"): status is rewritten only when it or a size
   * changes, so measured numbers in `reason` do not churn status every interval.
   */
  code: string;
  /** Human-readable why, with the numbers that decided it. */
  reason: string;
}

/** Server connections a pipeline may hold at these sizes: one per flusher, capped by PgBouncer's pools. */
export function connectionNeed(s: Sizes, l: Pick<Limits, 'pgbouncer' | 'pgbouncerReplicas'>): number {
  const clients = s.flushers * s.replicas;
  return l.pgbouncer ? Math.min(clients, s.poolSize * l.pgbouncerReplicas) : clients;
}

/** Connections kept free for humans, migrations and monitoring: 5% of the limit, at least 2. */
export const connectionMargin = (maxConnections: number) => Math.max(2, Math.ceil(maxConnections * 0.05));

/** Down steps must leave the flushers at most this busy, or the next burst would scale straight back up. */
export const DOWN_BUSY_LIMIT = 0.5;

const boundsOf = (l: Limits): SizeBounds => ({
  replicas: { min: l.minReplicas, max: l.maxReplicas },
  flushers: { min: l.minFlushers, max: l.maxFlushers },
  poolSize: { min: l.minPoolSize, max: l.maxPoolSize },
});

const same = (a: Sizes, b: Sizes) =>
  a.flushers === b.flushers && a.poolSize === b.poolSize && a.replicas === b.replicas;

export const describeSizes = (s: Sizes, l: Pick<Limits, 'pgbouncer'>) =>
  `${s.flushers} flushers × ${s.replicas} pods${l.pgbouncer ? `, pool ${s.poolSize}` : ''}`;

/** Pool size that gives every flusher of every pod a server connection. */
const poolFor = (flushers: number, replicas: number, l: Limits) =>
  Math.ceil((flushers * replicas) / l.pgbouncerReplicas);

/** The next step up the ladder, or why there is none. */
export function stepUp(
  s: Sizes,
  l: Limits,
  clWaiting: number,
): { next: Sizes; rung: Rung; why: string } | { none: string } {
  const clientsCap = l.pgbouncer ? s.poolSize * l.pgbouncerReplicas : Number.POSITIVE_INFINITY;
  // Clients queued in PgBouncer: more flushers or pods would only join the queue; the pool is the step.
  if (l.pgbouncer && clWaiting > 0) {
    if (s.poolSize >= l.maxPoolSize)
      return { none: `${clWaiting} clients wait in PgBouncer and the pool is at autoscaling.maxPoolSize` };
    const poolSize = Math.min(l.maxPoolSize, s.poolSize + Math.ceil(clWaiting / l.pgbouncerReplicas));
    return { next: { ...s, poolSize }, rung: 'poolSize', why: `${clWaiting} clients wait for a server connection` };
  }
  if (s.flushers < l.maxFlushers) {
    const flushers = s.flushers + 1;
    if (flushers * s.replicas <= clientsCap) return { next: { ...s, flushers }, rung: 'flushers', why: 'flushers' };
    if (s.poolSize < l.maxPoolSize) {
      const poolSize = Math.min(l.maxPoolSize, poolFor(flushers, s.replicas, l));
      return { next: { ...s, poolSize }, rung: 'poolSize', why: 'pool to carry one more flusher per pod' };
    }
    // The pool cannot carry more flushers; more pods would not either.
    return { none: 'flushers are limited by the PgBouncer pool, which is at autoscaling.maxPoolSize' };
  }
  if (s.replicas < l.maxReplicas) {
    const replicas = s.replicas + 1;
    if (s.flushers * replicas <= clientsCap) return { next: { ...s, replicas }, rung: 'replicas', why: 'pods' };
    if (s.poolSize < l.maxPoolSize) {
      const poolSize = Math.min(l.maxPoolSize, poolFor(s.flushers, replicas, l));
      return { next: { ...s, poolSize }, rung: 'poolSize', why: 'pool to carry one more pod' };
    }
    return { none: 'another pod needs a larger PgBouncer pool, which is at autoscaling.maxPoolSize' };
  }
  return {
    none: 'every rung is at its maximum (flusher.maxFlushers, autoscaling.maxPoolSize, autoscaling.maxReplicas)',
  };
}

/**
 * The next step down the reverse ladder (pods, then pool, then flushers).
 *
 * Drained (`busy` given): a step that removes capacity is taken only if the rest would stay under
 * DOWN_BUSY_LIMIT; a pool larger than the flushers can use is shrunk first (it costs no throughput).
 * Backing off a saturated database (`busy` undefined): each step removes one concurrent writer; a pool
 * shrink that would not (the pool is not what limits the flushers) is skipped, it would only burn a cooldown.
 */
export function stepDown(s: Sizes, l: Limits, busy?: number): { next: Sizes; rung: Rung } | { none: string } {
  const fits = (from: number, to: number) => busy === undefined || (busy * from) / to < DOWN_BUSY_LIMIT;
  if (s.replicas > l.minReplicas && fits(s.replicas, s.replicas - 1)) {
    return { next: { ...s, replicas: s.replicas - 1 }, rung: 'replicas' };
  }
  if (l.pgbouncer && s.poolSize > l.minPoolSize) {
    const fit = Math.max(l.minPoolSize, poolFor(s.flushers, s.replicas, l));
    if (busy !== undefined && fit < s.poolSize) return { next: { ...s, poolSize: fit }, rung: 'poolSize' };
    const poolLimits = s.poolSize * l.pgbouncerReplicas <= s.flushers * s.replicas;
    if (busy === undefined && poolLimits) return { next: { ...s, poolSize: s.poolSize - 1 }, rung: 'poolSize' };
  }
  if (s.flushers > l.minFlushers && fits(s.flushers * s.replicas, (s.flushers - 1) * s.replicas)) {
    return { next: { ...s, flushers: s.flushers - 1 }, rung: 'flushers' };
  }
  const atMin =
    s.replicas <= l.minReplicas && s.flushers <= l.minFlushers && (!l.pgbouncer || s.poolSize <= l.minPoolSize);
  if (atMin) return { none: 'at the minimum sizes' };
  if (busy === undefined) return { none: 'the flushers are at flusher.minFlushers' };
  return { none: 'the remaining flushers would be too busy with one less' };
}

const ms = (v: number) => `${Math.round(v)}ms`;
const sec = (v: number) => `${(v / 1000).toFixed(1)}s`;

export function decide(input: DecideInput): Decision {
  const { signals: sig, limits: l, now } = input;
  const current = input.current;
  const hold = (code: string, reason: string, desired: Sizes = current, rung?: Rung): Decision => ({
    next: current,
    desired,
    direction: 'hold',
    code,
    reason,
    ...(rung ? { rung } : {}),
  });
  // One step of the ladder, taken now.
  const step = (direction: 'up' | 'down', to: { next: Sizes; rung: Rung }, code: string, reason: string): Decision => ({
    next: to.next,
    desired: to.next,
    direction,
    rung: to.rung,
    code,
    reason,
  });

  // The spec's bounds moved under the sizes in effect: follow them at once (the user asked for it).
  const clamped = clampSizes(current, boundsOf(l));
  if (!same(clamped, current)) {
    const up =
      clamped.flushers + clamped.poolSize + clamped.replicas > current.flushers + current.poolSize + current.replicas;
    return {
      next: clamped,
      desired: clamped,
      direction: up ? 'up' : 'down',
      code: 'Bounds',
      reason: `sizes moved into the spec's bounds: ${describeSizes(clamped, l)}`,
    };
  }

  const missing = [...sig.missing];
  if (!sig.workers) missing.push('worker metrics');
  if (!sig.postgres) missing.push('PostgreSQL');
  if (l.pgbouncer && !sig.pgbouncer) missing.push('PgBouncer');
  const w = sig.workers;
  const pg = sig.postgres;
  if (missing.length > 0 || !w || !pg) {
    return hold(
      'HoldSignalsMissing',
      `holding ${describeSizes(current, l)}: signals missing: ${[...new Set(missing)].join('; ')}`,
    );
  }
  const clWaiting = sig.pgbouncer?.clWaiting ?? 0;

  // PostgreSQL saturation: each item alone means more writers would make things worse.
  const free = pg.maxConnections - pg.connectionsUsed;
  const margin = connectionMargin(pg.maxConnections);
  const saturated: string[] = [];
  if (pg.commitLatencyMs > l.targetCommitLatencyMs)
    saturated.push(`commit latency ${ms(pg.commitLatencyMs)} above targetCommitLatency ${ms(l.targetCommitLatencyMs)}`);
  if (pg.lockWaits > 0) saturated.push(`${pg.lockWaits} sessions wait for locks`);
  if (free <= margin)
    saturated.push(`${Math.max(0, free)} of ${pg.maxConnections} connections free (margin ${margin})`);
  if (l.pgbouncer && clWaiting > 0 && current.poolSize >= l.maxPoolSize)
    saturated.push(`${clWaiting} clients wait in PgBouncer with the pool at autoscaling.maxPoolSize`);

  const pressure: string[] = [];
  const trend = w.backlogTrendPerSec;
  // A backlog of a batch per flusher, or a second of ingest, is the batching window, not a queue: its
  // noise must not scale anything.
  const window = Math.max(l.batchSize * Math.max(1, w.activeFlushers), w.ingestRate ?? 0);
  if (trend !== undefined && trend > 0 && w.backlog > window)
    pressure.push(`backlog ${w.backlog} growing by ${Math.round(trend)}/s`);
  if (w.oldestUnflushedAgeMs > l.targetOldestUnflushedAgeMs)
    pressure.push(
      `oldest unflushed ${sec(w.oldestUnflushedAgeMs)} above targetOldestUnflushedAge ${sec(l.targetOldestUnflushedAgeMs)}`,
    );
  if (w.backpressure) pressure.push('a worker WAL is full (backpressure)');

  const since = input.lastChangeMs === undefined ? Number.POSITIVE_INFINITY : now - input.lastChangeMs;

  if (saturated.length > 0) {
    const why = `PostgreSQL saturated: ${saturated.join('; ')}`;
    const down = stepDown(current, l);
    if ('none' in down) return hold('HoldSaturated', `${why}; holding ${describeSizes(current, l)} (${down.none})`);
    if (since < l.scaleDownCooldownMs)
      return hold(
        'HoldSaturatedCooldown',
        `${why}; backing off to ${describeSizes(down.next, l)} after the scale-down cooldown (${sec(l.scaleDownCooldownMs - since)} left)`,
        down.next,
        down.rung,
      );
    return step('down', down, 'BackOff', `${why}; backing off one step to ${describeSizes(down.next, l)}`);
  }

  if (pressure.length > 0) {
    const why = pressure.join('; ');
    const up = stepUp(current, l, clWaiting);
    if ('none' in up) return hold('HoldAtMaximum', `${why}; cannot scale up: ${up.none}`);
    // Room for the step: live usage plus what it adds, and every pipeline on this database at its sizes.
    const added = connectionNeed(up.next, l) - connectionNeed(current, l);
    const budget = pg.maxConnections - margin;
    if (pg.connectionsUsed + added > budget || input.otherPipelinesConnections + connectionNeed(up.next, l) > budget) {
      return hold(
        'HoldNoConnections',
        `${why}; holding: ${describeSizes(up.next, l)} needs ${connectionNeed(up.next, l)} connections, and with ${pg.connectionsUsed} in use and ${input.otherPipelinesConnections} reserved by other pipelines on this database only ${Math.max(0, budget - Math.max(pg.connectionsUsed - connectionNeed(current, l), input.otherPipelinesConnections))} of ${pg.maxConnections} are left (margin ${margin})`,
        up.next,
        up.rung,
      );
    }
    if (since < l.scaleUpCooldownMs)
      return hold(
        'HoldUpCooldown',
        `${why}; next step ${describeSizes(up.next, l)} after the scale-up cooldown (${sec(l.scaleUpCooldownMs - since)} left)`,
        up.next,
        up.rung,
      );
    return step(
      'up',
      up,
      'ScaleUp',
      `${why}; PostgreSQL has headroom (${free} connections free, commit ${ms(pg.commitLatencyMs)}); ${up.rung} up to ${describeSizes(up.next, l)}`,
    );
  }

  // No pressure. Drained means nothing is waiting beyond the batching window.
  const drained = (trend === undefined || trend <= 0) && w.oldestUnflushedAgeMs <= l.targetOldestUnflushedAgeMs / 2;
  if (!drained) return hold('HoldSteady', `backlog ${w.backlog} within targets; holding ${describeSizes(current, l)}`);
  if (w.busyFraction === undefined)
    return hold('HoldSteady', 'backlog drained; waiting for a second sample to measure flusher load');
  const busy = w.busyFraction;
  const down = stepDown(current, l, busy);
  if ('none' in down)
    return hold(
      down.none === 'at the minimum sizes' ? 'HoldAtMinimum' : 'HoldSteady',
      `backlog drained; ${down.none} (flushers ${Math.round(busy * 100)}% busy); holding ${describeSizes(current, l)}`,
    );
  if (since < l.scaleDownCooldownMs)
    return hold(
      'HoldDownCooldown',
      `backlog drained; next step ${describeSizes(down.next, l)} after the scale-down cooldown (${sec(l.scaleDownCooldownMs - since)} left)`,
      down.next,
      down.rung,
    );
  return step(
    'down',
    down,
    'ScaleDown',
    `backlog drained (${w.backlog}, flushers ${Math.round(busy * 100)}% busy); ${down.rung} down to ${describeSizes(down.next, l)}`,
  );
}
