// One flusher's PostgreSQL connection: writes a batch of rows in one transaction with COPY. No session
// state survives a transaction (no session temp tables: a dedup route's staging table is ON COMMIT DROP; no
// named statements, no session locks), so it works through PgBouncer in transaction pooling mode.

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { ResolvedRoute } from '../api/routes.ts';
import { dedupTargets } from './dedup-copy.ts';
import { DedupWriter } from './dedup-writer.ts';
import { routeCopySql } from './route-ddl.ts';
import type { RouteRow } from './route-rows.ts';
import type { Row } from './rows.ts';
import {
  copyChunks,
  TELEMETRY_COLUMNS,
  type TelemetryRow,
  telemetryLine,
  UNPARSEABLE_COLUMNS,
  type UnparseableRow,
  unparseableLine,
} from './rows.ts';
import { qualified } from './sql.ts';
import type { RowSink } from './stages.ts';
import { WriteDeadline, type WriteTimeouts, writeTimeouts } from './write-deadline.ts';

export interface SinkTables {
  schema: string;
  table: string;
  unparseableTable: string;
  statementTimeoutMs: number;
  /** The routes of spec.routes (not the built-in device route, which is `table`). */
  routes?: ResolvedRoute[];
  /** Told after each commit how many rows of a dedup route the table already held (dedup-copy.ts). */
  duplicatesDropped?: (route: string, rows: number) => void;
}

export class PgSink implements RowSink {
  private client: pg.Client | undefined;
  private broken = false;
  private readonly config: pg.ClientConfig;
  private readonly telemetrySql: string;
  private readonly unparseableSql: string;
  private readonly beginSql: string;
  /** COPY of each declared route, by route name. */
  private readonly routeSql: Map<string, string>;
  /** Routes with a dedup key: COPY in a savepoint first, a staging table on a stored key (dedup-writer.ts). */
  private readonly dedup: Map<string, DedupWriter>;
  private readonly duplicatesDropped: ((route: string, rows: number) => void) | undefined;
  private readonly timeouts: WriteTimeouts;

  constructor(config: pg.ClientConfig, tables: SinkTables) {
    this.config = config;
    this.telemetrySql = `COPY ${qualified(tables.schema, tables.table)} (${TELEMETRY_COLUMNS.join(', ')}) FROM STDIN`;
    this.unparseableSql = `COPY ${qualified(tables.schema, tables.unparseableTable)} (${UNPARSEABLE_COLUMNS.join(', ')}) FROM STDIN`;
    this.routeSql = new Map((tables.routes ?? []).map((r) => [r.name, routeCopySql(tables.schema, r)]));
    this.dedup = new Map(
      [...dedupTargets(tables.schema, tables.routes ?? [])].map(([r, t]) => [r, new DedupWriter(t)]),
    );
    this.duplicatesDropped = tables.duplicatesDropped;
    this.beginSql = `BEGIN; SET LOCAL statement_timeout = ${Math.round(tables.statementTimeoutMs)}`;
    this.timeouts = writeTimeouts(tables.statementTimeoutMs);
  }

  private async connect(): Promise<pg.Client> {
    if (this.client && !this.broken) return this.client;
    await this.discard();
    const client = new pg.Client(this.config);
    // An idle connection can die (server restart, PgBouncer reload); mark it and reconnect on next use.
    client.on('error', () => {
      this.broken = true;
    });
    try {
      await client.connect();
    } catch (err) {
      client.end().catch(() => {});
      throw err;
    }
    this.client = client;
    this.broken = false;
    return client;
  }

  private async discard() {
    const c = this.client;
    this.client = undefined;
    if (c) await c.end().catch(() => {});
  }

  /**
   * Writes the rows in one transaction; on any failure nothing of it is committed and the error is thrown.
   * `before` runs in the transaction just before COMMIT (replay deletes the rows' sources there).
   */
  async write(rows: Row[], before?: (client: pg.ClientBase) => Promise<void>): Promise<void> {
    const telemetry: TelemetryRow[] = [];
    const unparseable: UnparseableRow[] = [];
    const routed = new Map<string, RouteRow[]>();
    for (const r of rows) {
      if (r.kind === 'telemetry') telemetry.push(r);
      else if (r.kind === 'route') routed.get(r.route)?.push(r) ?? routed.set(r.route, [r]);
      else unparseable.push(r);
    }
    const client = await this.connect();
    // A silent peer: end the connection (with a query active, pg destroys the socket) so the write fails now.
    const deadline = new WriteDeadline(this.timeouts, () => {
      this.broken = true;
      client.end().catch(() => {});
    });
    try {
      await client.query(this.beginSql);
      deadline.answered();
      if (telemetry.length > 0) await copy(client, this.telemetrySql, copyChunks(telemetry, telemetryLine));
      const dropped: [string, number][] = [];
      for (const [route, list] of routed) {
        const d = this.dedup.get(route);
        if (!d) await copy(client, this.copySqlOf(route), copyChunks(list, routeLine));
        else {
          const r = await d.write(client, () => copyChunks(list, routeLine), `mqtt2pg_stage_${dropped.length}`);
          dropped.push([route, r.copied - r.inserted]);
        }
      }
      if (unparseable.length > 0) await copy(client, this.unparseableSql, copyChunks(unparseable, unparseableLine));
      await before?.(client);
      await client.query('COMMIT');
      for (const [route, n] of dropped) if (n > 0) this.duplicatesDropped?.(route, n);
    } catch (err) {
      await this.abort(client);
      throw deadline.explain(err);
    } finally {
      deadline.clear();
    }
  }

  private copySqlOf(route: string): string {
    const sql = this.routeSql.get(route);
    if (!sql) throw new Error(`internal: a row of route "${route}", which this sink was not given`);
    return sql;
  }

  private async abort(client: pg.Client) {
    if (this.broken) {
      await this.discard();
      return;
    }
    try {
      await client.query('ROLLBACK');
    } catch {
      await this.discard();
    }
  }

  async close(): Promise<void> {
    await this.discard();
  }
}

const routeLine = (r: RouteRow) => r.line;

/** Streams the chunks into COPY with backpressure: a chunk is produced only when the connection takes more. */
async function copy(client: pg.Client, sql: string, chunks: Iterable<string>): Promise<void> {
  await pipeline(Readable.from(chunks, { highWaterMark: 1 }), client.query(copyStreams.from(sql)));
}
