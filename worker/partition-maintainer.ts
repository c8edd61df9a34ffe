// Keeps a partitioned route's partitions: at start and then periodically, creates the partitions ahead and
// drops those past the retention (partition-plan.ts decides), and keeps the window of partitions the flushers
// check rows against before COPY. Safe from many workers at once, also through PgBouncer in transaction mode:
// each run holds a transaction-level advisory lock on the table, and CREATE/DROP use IF (NOT) EXISTS. Never
// needs a user's action; a run that fails (PostgreSQL down, a lock not granted in time) is tried again later.

import pg from 'pg';
import { backoffDelay } from '../common/backoff.ts';
import type { Logger } from '../common/logger.ts';
import { type PartitionRange, type PartitionSettings, PartitionWindow, planPartitions } from './partition-plan.ts';
import { qualified } from './sql.ts';

export interface PartitionTarget {
  schema: string;
  table: string;
  settings: PartitionSettings;
}

export interface MaintainerOptions {
  /** The clock (epoch ms); tests move it instead of sleeping. */
  now?: () => number;
  /** Between runs; defaults to a quarter of the interval, at most 10 minutes. */
  periodMs?: number;
  /**
   * How long a CREATE or DROP waits for the table's lock: writers queue behind a waiting DROP, so it gives
   * up early and tries again at the next run instead of stalling ingest.
   */
  lockTimeoutMs?: number;
}

export interface MaintenanceResult {
  created: string[];
  dropped: string[];
  partitions: PartitionRange[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const RETRY = { initialMs: 1000, maxMs: 60_000, jitter: 0.2 };

/** The table's range partitions, bounds in epoch ms (a DEFAULT partition is not a range and is left out). */
export async function listPartitions(client: pg.ClientBase, schema: string, table: string): Promise<PartitionRange[]> {
  const { rows } = await client.query<{ name: string; from_ms: string; to_ms: string }>(
    `SELECT c.relname AS name,
            (extract(epoch FROM (substring(b.expr FROM 'FROM \\(''([^'']+)''\\)'))::timestamptz) * 1000)::bigint AS from_ms,
            (extract(epoch FROM (substring(b.expr FROM 'TO \\(''([^'']+)''\\)'))::timestamptz) * 1000)::bigint AS to_ms
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS expr) b
      WHERE i.inhparent = (quote_ident($1) || '.' || quote_ident($2))::regclass
        AND b.expr LIKE 'FOR VALUES FROM%'`,
    [schema, table],
  );
  return rows.map((r) => ({ name: r.name, fromMs: Number(r.from_ms), toMs: Number(r.to_ms) }));
}

/**
 * Creates the partitions the plan asks for, in the caller's open transaction (`mqtt2pg migrate` runs it in
 * its own, when it creates the table); returns their names.
 */
export async function createPlannedPartitions(
  client: pg.ClientBase,
  t: PartitionTarget,
  nowMs: number,
): Promise<string[]> {
  const plan = planPartitions(t.table, t.settings, nowMs, await listPartitions(client, t.schema, t.table));
  const parent = qualified(t.schema, t.table);
  for (const p of plan.create) {
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${qualified(t.schema, p.name)} PARTITION OF ${parent} FOR VALUES FROM ('${iso(p.fromMs)}') TO ('${iso(p.toMs)}')`,
    );
  }
  return plan.create.map((p) => p.name);
}

/** One maintenance run in `client`'s connection: create what the plan says, then drop, each in its own transaction. */
export async function maintainPartitions(
  client: pg.ClientBase,
  t: PartitionTarget,
  nowMs: number,
  lockTimeoutMs: number,
): Promise<MaintenanceResult> {
  const lockKey = `mqtt2pg:partitions:${t.schema}.${t.table}`;
  const begin = `BEGIN; SET LOCAL lock_timeout = ${Math.round(lockTimeoutMs)}`;
  const inTransaction = async <T>(f: () => Promise<T>): Promise<T> => {
    await client.query(begin);
    try {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
      const out = await f();
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  };
  const created = await inTransaction(() => createPlannedPartitions(client, t, nowMs));
  // Drops one by one: a drop that waits too long for its lock leaves the others (and the creates) done.
  const dropped: string[] = [];
  const { drop } = planPartitions(t.table, t.settings, nowMs, await listPartitions(client, t.schema, t.table));
  for (const p of drop) {
    await inTransaction(() => client.query(`DROP TABLE IF EXISTS ${qualified(t.schema, p.name)}`));
    dropped.push(p.name);
  }
  return { created, dropped, partitions: await listPartitions(client, t.schema, t.table) };
}

/** Runs the maintenance of one table at start and periodically, and serves its partition window. */
export class PartitionMaintainer {
  private readonly config: pg.ClientConfig;
  private readonly target: PartitionTarget;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly periodMs: number;
  private readonly lockTimeoutMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private failures = 0;
  private stopped = false;
  /**
   * The partitions as last seen; rows are checked against them. Unknown until a run succeeded: rows then go
   * to COPY unchecked (a row without its partition is retried, never refused on a guess).
   */
  window: PartitionWindow | undefined;

  constructor(config: pg.ClientConfig, target: PartitionTarget, log: Logger, o: MaintainerOptions = {}) {
    this.config = config;
    this.target = target;
    this.log = log;
    this.now = o.now ?? Date.now;
    this.periodMs = o.periodMs ?? Math.min(target.settings.intervalMs / 4, 10 * 60_000);
    this.lockTimeoutMs = o.lockTimeoutMs ?? 5000;
  }

  /** Refusal of a row whose partition column holds `valueMs`, checked now (partition-plan.ts). */
  refuse(valueMs: number): string | undefined {
    return this.window?.refuse(valueMs, this.now());
  }

  /** One run now; throws what PostgreSQL said (the periodic runs log it instead). */
  async runOnce(): Promise<MaintenanceResult> {
    const client = new pg.Client(this.config);
    client.on('error', () => {});
    await client.connect();
    try {
      const r = await maintainPartitions(client, this.target, this.now(), this.lockTimeoutMs);
      this.window = new PartitionWindow(r.partitions, this.target.settings.retentionMs);
      if (r.created.length > 0 || r.dropped.length > 0)
        this.log.info(
          { table: `${this.target.schema}.${this.target.table}`, created: r.created, dropped: r.dropped },
          'partitions created ahead and dropped past the retention',
        );
      return r;
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** Periodic runs, the first one at once; a failed run is logged and tried again with backoff. */
  start(): void {
    const tick = () => {
      this.running = this.runOnce().then(
        () => {
          this.failures = 0;
          this.schedule(tick, this.periodMs);
        },
        (err: Error) => {
          if (this.failures % 10 === 0)
            this.log.warn(
              { table: `${this.target.schema}.${this.target.table}`, err: err.message },
              'partition maintenance failed; trying again with backoff',
            );
          this.schedule(tick, Math.min(this.periodMs, backoffDelay(this.failures++, RETRY)));
        },
      );
    };
    tick();
  }

  private schedule(tick: () => void, ms: number) {
    if (this.stopped) return;
    this.timer = setTimeout(tick, ms);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
