// The autoscaler's inputs, read fresh every interval: each worker pod's /metrics (fetched by
// operator/worker-poll.ts, parsed here), PostgreSQL directly (not through PgBouncer: the pooler would hide the
// connection count and queue the probe), and PgBouncer's admin console. Every source fails on its own: an unreachable one is reported in `missing` with the error, and the
// decision holds the size (decide.ts) instead of the loop crashing.

import pg from 'pg';
import { AUTOSCALER_SERIES as S } from '../../api/contract.ts';
import { type PgTarget, pgMonitoringConfig } from '../../common/client-options.ts';
import type { PgBouncerSignals, PostgresSignals, WorkerSignals } from './decide.ts';

export type { PgTarget };

/** Sums of the samples of each metric name (labels summed over), from the Prometheus text format. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, line.indexOf(' '));
    const value = Number(line.slice(space + 1));
    if (!Number.isFinite(value)) continue;
    out.set(name, (out.get(name) ?? 0) + value);
  }
  return out;
}

/** What one scrape of one pod gives. */
export interface PodSample {
  pod: string;
  /** The pod's uid: counters restart with the process, and a new pod under an old name is a new series. */
  uid: string;
  atMs: number;
  walMessages: number;
  oldestAgeSeconds: number;
  received: number;
  flushed: number;
  batchSeconds: number;
  batches: number;
  flushers: number;
  backpressure: number;
}

export function podSample(pod: string, uid: string, atMs: number, text: string): PodSample {
  const m = parseMetrics(text);
  const need = (name: string) => {
    const v = m.get(name);
    if (v === undefined) throw new Error(`${name} missing from /metrics (is this an mqtt2pg worker?)`);
    return v;
  };
  return {
    pod,
    uid,
    atMs,
    walMessages: need(S.walMessages),
    oldestAgeSeconds: m.get(S.oldestUnflushedAge) ?? 0,
    received: need(S.received),
    flushed: m.get(S.flushedRows) ?? 0,
    batchSeconds: m.get(S.batchSecondsSum) ?? 0,
    batches: m.get(S.batchCount) ?? 0,
    flushers: m.get(S.flushers) ?? 0,
    backpressure: m.get(S.backpressure) ?? 0,
  };
}

/**
 * Worker signals from this interval's samples and the previous ones (by pod uid). Rates come from counter
 * deltas; a pod seen for the first time, or whose counters went backwards (restarted), contributes no rate
 * this interval, and the rates are left undefined when no pod has a previous sample.
 */
export function workerSignals(
  samples: PodSample[],
  previous: Map<string, PodSample>,
  previousBacklog?: { atMs: number; backlog: number },
): WorkerSignals {
  let received = 0;
  let flushed = 0;
  let batchSeconds = 0;
  let batches = 0;
  let busySeconds = 0;
  let flusherSeconds = 0;
  let withRate = 0;
  for (const s of samples) {
    const prev = previous.get(s.uid);
    const dt = prev ? (s.atMs - prev.atMs) / 1000 : 0;
    if (!prev || dt <= 0 || s.received < prev.received || s.flushed < prev.flushed || s.batches < prev.batches)
      continue;
    withRate++;
    received += (s.received - prev.received) / dt;
    flushed += (s.flushed - prev.flushed) / dt;
    batchSeconds += s.batchSeconds - prev.batchSeconds;
    batches += s.batches - prev.batches;
    busySeconds += s.batchSeconds - prev.batchSeconds;
    flusherSeconds += dt * Math.max(1, s.flushers);
  }
  const backlog = samples.reduce((a, s) => a + s.walMessages, 0);
  const atMs = Math.max(...samples.map((s) => s.atMs));
  const trendDt = previousBacklog ? (atMs - previousBacklog.atMs) / 1000 : 0;
  return {
    pods: samples.length,
    backlog,
    ...(previousBacklog && trendDt > 0 ? { backlogTrendPerSec: (backlog - previousBacklog.backlog) / trendDt } : {}),
    oldestUnflushedAgeMs: Math.max(0, ...samples.map((s) => s.oldestAgeSeconds * 1000)),
    ...(withRate > 0
      ? {
          ingestRate: received,
          flushRate: flushed,
          busyFraction: Math.min(1, flusherSeconds > 0 ? busySeconds / flusherSeconds : 0),
        }
      : {}),
    ...(batches > 0 ? { batchLatencyMs: (batchSeconds / batches) * 1000 } : {}),
    activeFlushers: samples.reduce((a, s) => a + s.flushers, 0),
    backpressure: samples.some((s) => s.backpressure > 0),
  };
}

function client(t: PgTarget, applicationName: string): pg.Client {
  return new pg.Client(pgMonitoringConfig(t, applicationName));
}

/** Previous pg_stat_statements COMMIT totals per target, for an interval mean instead of a lifetime one. */
interface CommitTotals {
  calls: number;
  ms: number;
}

/**
 * PostgreSQL headroom, read through one long-lived monitoring connection per target (a connection a minute
 * would cost more than the queries). Commit latency: the interval mean of COMMIT from pg_stat_statements when
 * the extension is installed and saw commits, else a timed probe transaction that writes a commit record
 * (txid_current() assigns an xid, so the COMMIT waits for the WAL flush like the flushers' commits do).
 */
export class PostgresProbe {
  private conn?: pg.Client;
  private readonly target: PgTarget;
  private lastCommit?: CommitTotals;

  constructor(target: PgTarget) {
    this.target = target;
  }

  private async connection(): Promise<pg.Client> {
    if (this.conn) return this.conn;
    const c = client(this.target, 'mqtt2pg-operator-autoscaler');
    c.on('error', () => {
      // A dropped connection: the next read reconnects.
      if (this.conn === c) this.conn = undefined;
    });
    await c.connect();
    this.conn = c;
    return c;
  }

  async read(): Promise<PostgresSignals> {
    try {
      const c = await this.connection();
      const r = await c.query<{
        max_conn: number;
        reserved: number;
        used: number;
        lock_waits: number;
        pss: boolean;
      }>(
        `SELECT current_setting('max_connections')::int AS max_conn,
                current_setting('superuser_reserved_connections')::int AS reserved,
                (SELECT count(*)::int FROM pg_stat_activity
                  WHERE backend_type = 'client backend' OR backend_type IS NULL) AS used,
                (SELECT count(*)::int FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                  WHERE NOT l.granted AND a.datname = current_database()) AS lock_waits,
                EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS pss`,
      );
      const row = r.rows[0];
      if (!row) throw new Error('the headroom query returned no row');
      const commitLatencyMs = (row.pss ? await this.statementsCommitMs(c) : undefined) ?? (await this.probeMs(c));
      return {
        maxConnections: row.max_conn - row.reserved,
        connectionsUsed: row.used,
        commitLatencyMs,
        lockWaits: row.lock_waits,
      };
    } catch (err) {
      this.close();
      const t = this.target;
      throw new Error(`PostgreSQL ${t.host}:${t.port}/${t.database} as ${t.user}: ${(err as Error).message}`);
    }
  }

  private async statementsCommitMs(c: pg.Client): Promise<number | undefined> {
    try {
      const r = await c.query<{ calls: string; ms: number }>(
        `SELECT coalesce(sum(calls), 0)::text AS calls, coalesce(sum(total_exec_time), 0)::float8 AS ms
           FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND upper(query) LIKE 'COMMIT%'`,
      );
      const now = { calls: Number(r.rows[0]?.calls ?? 0), ms: Number(r.rows[0]?.ms ?? 0) };
      const prev = this.lastCommit;
      this.lastCommit = now;
      if (!prev || now.calls <= prev.calls) return undefined;
      return (now.ms - prev.ms) / (now.calls - prev.calls);
    } catch {
      // Installed but not preloaded, or no permission: the probe still measures.
      return undefined;
    }
  }

  private async probeMs(c: pg.Client): Promise<number> {
    const t0 = performance.now();
    await c.query('BEGIN');
    try {
      await c.query('SELECT txid_current()');
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
    return performance.now() - t0;
  }

  close(): void {
    const c = this.conn;
    this.conn = undefined;
    c?.end().catch(() => {});
  }
}

/** One PgBouncer's view of the pipeline's pool, and the pool size it runs with now. */
export interface BouncerReading extends PgBouncerSignals {
  defaultPoolSize: number;
}

/**
 * SHOW POOLS / SHOW STATS / SHOW CONFIG on one PgBouncer's admin console (database `pgbouncer`; the
 * console speaks only the simple query protocol, which `pg` uses for queries without parameters).
 * `database` and `user` pick the pipeline's pool among others the same PgBouncer may serve.
 */
export async function readPgBouncer(t: PgTarget, database: string, user: string): Promise<BouncerReading> {
  const c = client({ ...t, database: 'pgbouncer' }, 'mqtt2pg-operator-autoscaler');
  c.on('error', () => {});
  try {
    await c.connect();
    const pools = (await c.query('SHOW POOLS')).rows as Array<Record<string, string | number>>;
    const mine = pools.filter((p) => p.database === database && p.user === user);
    const num = (v: unknown) => Number(v ?? 0) || 0;
    const stats = ((await c.query('SHOW STATS')).rows as Array<Record<string, string | number>>).find(
      (s) => s.database === database,
    );
    const config = ((await c.query('SHOW CONFIG')).rows as Array<{ key: string; value: string }>).find(
      (x) => x.key === 'default_pool_size',
    );
    const avgXactUs = num(stats?.avg_xact_time);
    return {
      clWaiting: mine.reduce((a, p) => a + num(p.cl_waiting), 0),
      maxWaitMs: Math.max(0, ...mine.map((p) => num(p.maxwait) * 1000 + num(p.maxwait_us) / 1000)),
      svActive: mine.reduce((a, p) => a + num(p.sv_active), 0),
      svIdle: mine.reduce((a, p) => a + num(p.sv_idle), 0),
      ...(avgXactUs > 0 ? { avgXactMs: avgXactUs / 1000 } : {}),
      defaultPoolSize: num(config?.value),
    };
  } catch (err) {
    throw new Error(`PgBouncer ${t.host}:${t.port} admin console as ${t.user}: ${(err as Error).message}`);
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * Applies a pool size to a running PgBouncer without a restart: SET default_pool_size takes effect for
 * every pool at once and drops no client (RELOAD would re-read a file the kubelet may not have updated yet).
 */
export async function setPgBouncerPoolSize(t: PgTarget, poolSize: number): Promise<void> {
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new Error(`internal: pool size ${poolSize}`);
  const c = client({ ...t, database: 'pgbouncer' }, 'mqtt2pg-operator-autoscaler');
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query(`SET default_pool_size = ${poolSize}`);
  } catch (err) {
    throw new Error(
      `PgBouncer ${t.host}:${t.port}: SET default_pool_size = ${poolSize} as ${t.user} failed: ${(err as Error).message} (the user must be in admin_users)`,
    );
  } finally {
    await c.end().catch(() => {});
  }
}

/** Sums the readings of several PgBouncer pods into the pipeline's view (waits: the worst). */
export function combineBouncers(readings: BouncerReading[]): PgBouncerSignals {
  const xacts = readings.map((r) => r.avgXactMs).filter((v): v is number => v !== undefined);
  return {
    clWaiting: readings.reduce((a, r) => a + r.clWaiting, 0),
    maxWaitMs: Math.max(0, ...readings.map((r) => r.maxWaitMs)),
    svActive: readings.reduce((a, r) => a + r.svActive, 0),
    svIdle: readings.reduce((a, r) => a + r.svIdle, 0),
    ...(xacts.length > 0 ? { avgXactMs: Math.max(...xacts) } : {}),
  };
}
