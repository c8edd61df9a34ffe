// In-memory stages for the flusher pool's unit tests (worker/flusher*.test.ts): a table that commits a write
// whole or not at all and refuses bad values the way PostgreSQL does, a dead-letter store that can be down,
// a WAL whose first claims or commits fail, and a pool over the real WAL on a temporary directory.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext } from 'node:test';
import { createLogger } from '../../common/logger.ts';
import { type FlusherOptions, FlusherPool } from '../../worker/flusher.ts';
import type { InboundMessage } from '../../worker/message.ts';
import { WorkerMetrics } from '../../worker/metrics.ts';
import type { Row, TelemetryRow, UnparseableRow } from '../../worker/rows.ts';
import type { ClaimSource, DeadLetter, DeadLetterStore, RowSink } from '../../worker/stages.ts';
import { type Claim, Wal, type WalOptions } from '../../worker/wal.ts';
import { eventually } from './eventually.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export const DEVICE = '550e8400-e29b-41d4-a716-446655440000';
/** A JSON payload PostgreSQL's jsonb refuses (SQLSTATE 22003) that no check before COPY catches: a number past numeric. */
export const BAD = (id: number) => `{"id":${id},"v":1e999999}`;
export const GOOD = (id: number) => `{"id":${id}}`;
export const idOf = (m: InboundMessage) => (JSON.parse(m.payload.toString()) as { id: number }).id;
export const ids = (rows: Array<{ message: InboundMessage }>) => rows.map((r) => idOf(r.message)).sort((a, b) => a - b);
export const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
export const codeError = (message: string, code: string) => Object.assign(new Error(message), { code });

/** The telemetry and unparseable tables, with PgSink's contract: a write commits all its rows or none. */
export class MemoryTable {
  readonly telemetry: TelemetryRow[] = [];
  readonly unparseable: UnparseableRow[] = [];
  /** While set, every write fails with it, as when PostgreSQL or the network is down. */
  outage: Error | undefined;
  /** While set, a write fails with what it returns for the rows (a table refusing some or all of them). */
  refuse: ((rows: Row[]) => Error | undefined) | undefined;
  /** While set, writes wait until their sink is closed, then fail: a locked table that PgSink's close cuts. */
  hang = false;
  /** While held, writes wait: lets a test see writes in flight. */
  private gate: Promise<void> | undefined;
  private open = () => {};
  /** performance.now() of every write attempt. */
  readonly attempts: number[] = [];
  inFlight = 0;
  opened = 0;
  closed = 0;

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.gate = undefined;
    this.open();
  }

  sink(): RowSink {
    this.opened++;
    let cut = () => {};
    const closed = new Promise<void>((resolve) => {
      cut = resolve;
    });
    return {
      write: async (rows: Row[]) => {
        this.attempts.push(performance.now());
        this.inFlight++;
        try {
          if (this.hang) {
            await closed;
            throw new Error('Connection terminated');
          }
          await this.gate;
          if (this.outage) throw this.outage;
          const refused = this.refuse?.(rows);
          if (refused) throw refused;
          if (rows.some((r) => r.kind === 'telemetry' && r.json?.includes('1e999999')))
            throw codeError('value overflows numeric format', '22003');
          for (const r of rows) {
            if (r.kind === 'telemetry') this.telemetry.push(r);
            else if (r.kind === 'unparseable') this.unparseable.push(r);
          }
        } finally {
          this.inFlight--;
        }
      },
      close: async () => {
        this.closed++;
        cut();
      },
    };
  }
}

export class MemoryDeadLetters implements DeadLetterStore {
  readonly stored: DeadLetter[] = [];
  puts = 0;
  outage: Error | undefined;
  async put(letters: DeadLetter[]): Promise<string> {
    this.puts++;
    if (this.outage) throw this.outage;
    this.stored.push(...letters);
    return `dlq/${this.puts}.jsonl`;
  }
}

export interface Setup {
  dir: string;
  wal: Wal;
  table: MemoryTable;
  metrics: WorkerMetrics;
  pool: FlusherPool<Claim>;
}

export interface SetupStages {
  /** Where rows the table refuses go; none: they stay in the WAL (the worker without spec.deadLetter). */
  deadLetters?: DeadLetterStore;
  wal?: Partial<WalOptions>;
  /** The pool's claim source over the WAL; the WAL itself when not set. */
  source?: (wal: Wal) => ClaimSource<Claim>;
  /** Flusher `index`'s connection; a sink of `table` when not set. */
  sink?: (index: number, table: MemoryTable) => RowSink;
}

export async function setup(
  t: TestContext,
  opts: Partial<FlusherOptions> = {},
  stages: SetupStages = {},
): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-flusher-'));
  dirs.push(dir);
  const wal = await Wal.open({ dir, sizeLimitBytes: 64 * 2 ** 20, retentionMs: 3_600_000, ...stages.wal });
  const table = new MemoryTable();
  const metrics = new WorkerMetrics('test', () => wal);
  const pool = new FlusherPool(
    {
      batchSize: 1000,
      batchBytes: 8 * 2 ** 20,
      flushIntervalMs: 0,
      initialBackoffMs: 2,
      maxBackoffMs: 20,
      payloadFormat: 'json',
      limits: { maxPayloadSizeBytes: 256 * 1024, maxJsonDepth: 64 },
      ...opts,
    },
    {
      source: stages.source?.(wal) ?? wal,
      newSink: (i) => stages.sink?.(i, table) ?? table.sink(),
      deadLetters: stages.deadLetters,
      metrics,
      log: createLogger('silent'),
    },
  );
  t.after(async () => {
    table.release();
    await pool.stop();
    await wal.close();
  });
  return { dir, wal, table, metrics, pool };
}

/**
 * The real WAL, with its first `claims` claim() and `commits` commit() calls failing the way a LevelDB I/O
 * error does.
 */
export function failingWal(wal: Wal, failures: { claims: number; commits: number }): ClaimSource<Claim> {
  let { claims, commits } = failures;
  return {
    get available() {
      return wal.available;
    },
    get oldestAvailableAt() {
      return wal.oldestAvailableAt;
    },
    get availableBytes() {
      return wal.availableBytes;
    },
    get messages() {
      return wal.messages;
    },
    claim: (n, bytes) => (claims-- > 0 ? Promise.reject(new Error('IO error: read failed')) : wal.claim(n, bytes)),
    commit: (c) => (commits-- > 0 ? Promise.reject(new Error('IO error: write failed')) : wal.commit(c)),
    release: (c) => wal.release(c),
    retain: (c, kept) => wal.retain(c, kept),
    on: (event, listener) => wal.on(event, listener),
  };
}

/** Appends QoS 1 messages (bad ones refused by the table) and resolves once all are durable. */
export function append(wal: Wal, messageIds: number[], bad: number[] = []): Promise<void> {
  return new Promise((resolve) => {
    let left = messageIds.length;
    for (const id of messageIds) {
      const payload = Buffer.from(bad.includes(id) ? BAD(id) : GOOD(id));
      const message = {
        topic: `t/acme/d/${DEVICE}/evt/x`,
        payload,
        receivedAt: Date.now(),
        qos: 1 as const,
        dup: false,
      };
      wal.append(message, () => --left === 0 && resolve());
    }
  });
}

export const until = (what: string, condition: () => boolean) =>
  eventually(async () => assert.ok(condition()), { what, timeoutMs: 10_000, intervalMs: 2 });

export async function counter(c: WorkerMetrics['retries'] | WorkerMetrics['flushedRows'], labels: object = {}) {
  const values = (await c.get()).values;
  return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k as never] === x))?.value ?? 0;
}
