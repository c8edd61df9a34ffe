// The flusher pool against in-memory stages behind its interfaces (stages.ts): a table that commits a write
// whole or not at all and refuses bad values the way PostgreSQL does, and a dead-letter store that can be
// down. The claim source is the real WAL on a temporary directory: it is fast, and what "nothing deleted"
// means is then checked on the store the worker really uses, down to reopening it from disk. The same
// behaviour against real PostgreSQL, PgBouncer and MinIO: test/integration/worker/{delivery,outages}.test.ts.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext, test } from 'node:test';
import { createLogger } from '../common/logger.ts';
import { eventually } from '../test/lib/eventually.ts';
import { type FlusherOptions, FlusherPool } from './flusher.ts';
import type { InboundMessage } from './message.ts';
import { WorkerMetrics } from './metrics.ts';
import type { Row, TelemetryRow, UnparseableRow } from './rows.ts';
import type { DeadLetter, DeadLetterStore, RowSink } from './stages.ts';
import { type Claim, Wal, type WalOptions } from './wal.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const DEVICE = '550e8400-e29b-41d4-a716-446655440000';
/** A JSON payload PostgreSQL's jsonb refuses (SQLSTATE 22003) that no check before COPY catches: a number past numeric. */
const BAD = (id: number) => `{"id":${id},"v":1e999999}`;
const GOOD = (id: number) => `{"id":${id}}`;
const idOf = (m: InboundMessage) => (JSON.parse(m.payload.toString()) as { id: number }).id;
const ids = (rows: Array<{ message: InboundMessage }>) => rows.map((r) => idOf(r.message)).sort((a, b) => a - b);
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const codeError = (message: string, code: string) => Object.assign(new Error(message), { code });

/** The telemetry and unparseable tables, with PgSink's contract: a write commits all its rows or none. */
class MemoryTable {
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

class MemoryDeadLetters implements DeadLetterStore {
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

interface Setup {
  dir: string;
  wal: Wal;
  table: MemoryTable;
  metrics: WorkerMetrics;
  pool: FlusherPool<Claim>;
}

async function setup(
  t: TestContext,
  opts: Partial<FlusherOptions> = {},
  deadLetters?: DeadLetterStore,
  walOpts: Partial<WalOptions> = {},
): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-flusher-'));
  dirs.push(dir);
  const wal = await Wal.open({ dir, sizeLimitBytes: 64 * 2 ** 20, retentionMs: 3_600_000, ...walOpts });
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
    { source: wal, newSink: () => table.sink(), deadLetters, metrics, log: createLogger('silent') },
  );
  t.after(async () => {
    table.release();
    await pool.stop();
    await wal.close();
  });
  return { dir, wal, table, metrics, pool };
}

/** Appends QoS 1 messages (bad ones refused by the table) and resolves once all are durable. */
function append(wal: Wal, messageIds: number[], bad: number[] = []): Promise<void> {
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

const until = (what: string, condition: () => boolean) =>
  eventually(async () => assert.ok(condition()), { what, timeoutMs: 10_000, intervalMs: 2 });

async function counter(c: WorkerMetrics['retries'] | WorkerMetrics['flushedRows'], labels: object = {}) {
  const values = (await c.get()).values;
  return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k as never] === x))?.value ?? 0;
}

test('a bad row is isolated by splitting the batch: exactly the bad rows are dead-lettered, neighbours commit', async (t) => {
  const dlq = new MemoryDeadLetters();
  const { wal, table, metrics, pool } = await setup(t, {}, dlq);
  const bad = [5, 6, 40];
  await append(wal, range(0, 64), bad);
  pool.setCount(1);
  await until('the WAL is empty', () => wal.messages === 0);

  assert.deepEqual(
    ids(table.telemetry),
    range(0, 64).filter((id) => !bad.includes(id)),
    'each good row once',
  );
  assert.deepEqual(table.unparseable, []);
  assert.deepEqual(ids(dlq.stored), bad);
  for (const letter of dlq.stored) {
    assert.equal(letter.sqlstate, '22003');
    assert.match(letter.error, /value overflows numeric format/);
    assert.equal(letter.attempts, 7, 'the batch of 64, then halves down to the single row');
  }
  assert.ok(table.attempts.length < 64, `split in halves, not retried row by row (${table.attempts.length} writes)`);
  assert.equal(await counter(metrics.flushedRows), 61);
  assert.equal(await counter(metrics.deadLetters, { sqlstate_class: '22' }), 3);
});

test('without a dead-letter store, a rejected row is kept in the unparseable table with its SQLSTATE', async (t) => {
  const { wal, table, pool } = await setup(t);
  await append(wal, range(0, 10), [2]);
  pool.setCount(1);
  await until('the WAL is empty', () => wal.messages === 0);

  assert.deepEqual(ids(table.telemetry), [0, 1, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(table.unparseable.length, 1);
  const [kept] = table.unparseable;
  assert.equal(kept && idOf(kept.message), 2);
  assert.equal(kept?.reason, 'rejected');
  assert.match(kept?.detail ?? '', /^22003 value overflows numeric format/);
});

test('while the dead-letter store fails the rejected rows stay in the WAL; they are retried, then delivered once', async (t) => {
  const dlq = new MemoryDeadLetters();
  dlq.outage = codeError('connect ECONNREFUSED 127.0.0.1:9000', 'ECONNREFUSED');
  const { wal, table, metrics, pool } = await setup(t, {}, dlq);
  await append(wal, range(0, 20), [3, 17]);
  pool.setCount(1);
  await until('three failed PUTs', () => dlq.puts >= 3);

  assert.equal(wal.messages, 2, 'the rejected rows stay in the WAL until their dead letters are stored');
  assert.deepEqual(dlq.stored, []);
  assert.equal(table.telemetry.length, 18, 'the good neighbours are committed meanwhile');
  assert.match(pool.lastError ?? '', /^s3: connect ECONNREFUSED/);
  assert.equal((await metrics.pendingDeadLetters.get()).values[0]?.value, 2);
  assert.match(pool.notes ?? '', /^2 dead letters wait for the dead-letter store \(connect ECONNREFUSED/);
  assert.equal(pool.healthy, true, 'readiness does not depend on S3');

  dlq.outage = undefined;
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(dlq.stored), [3, 17]);
  assert.deepEqual(
    ids(table.telemetry),
    range(0, 20).filter((id) => id !== 3 && id !== 17),
    'not written twice',
  );
  assert.ok((await counter(metrics.retries, { target: 's3' })) >= 3);
});

test('connection and server errors are retried with growing backoff until they pass, and never dead-lettered', async (t) => {
  const dlq = new MemoryDeadLetters();
  const initialMs = 8;
  const maxMs = 64;
  const { wal, table, metrics, pool } = await setup(t, { initialBackoffMs: initialMs, maxBackoffMs: maxMs }, dlq);
  table.outage = codeError('terminating connection due to administrator command', '57P01');
  await append(wal, range(0, 20));
  pool.setCount(1);
  await until('three failed writes', () => table.attempts.length >= 3);
  assert.equal(pool.healthy, false, 'readiness reports the failing writes');
  assert.match(pool.problem ?? '', /last write failed: postgres: terminating connection/);
  table.outage = codeError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');
  await until('five failed writes', () => table.attempts.length >= 5);

  table.outage = undefined;
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(table.telemetry), range(0, 20), 'every row once');
  assert.equal(dlq.puts, 0, 'an outage is never the rows’ fault');
  assert.deepEqual(table.unparseable, []);
  assert.equal(pool.healthy, true);
  const failures = table.attempts.length - 1;
  assert.equal(await counter(metrics.retries, { target: 'postgres' }), failures);
  // Retry k waits at least half its ceiling min(max, initial·2^k) (jitter only shortens, by half at most).
  for (let k = 0; k < failures; k++) {
    const gap = (table.attempts[k + 1] as number) - (table.attempts[k] as number);
    const floor = Math.min(maxMs, initialMs * 2 ** k) / 2;
    assert.ok(gap >= floor - 2, `retry ${k} came after ${gap.toFixed(1)} ms, before its backoff of ≥ ${floor} ms`);
  }
});

test('drain flushes everything claimed or waiting at once, ignoring the flush interval', async (t) => {
  const { wal, table, pool } = await setup(t, { flushIntervalMs: 3_600_000 });
  for (const from of [0, 10, 20]) await append(wal, range(from, 10));
  pool.setCount(2);
  assert.equal(await pool.drain(Date.now() + 10_000), 0, 'nothing left in the WAL');
  assert.deepEqual(ids(table.telemetry), range(0, 30));
  await pool.stop();
  assert.equal(table.closed, 2, 'every flusher closed its connection');
});

test('stopping while PostgreSQL is down hands the claimed batch back to the WAL, which keeps it on disk', async (t) => {
  const { dir, wal, table, pool } = await setup(t);
  table.outage = codeError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');
  await append(wal, range(0, 10));
  pool.setCount(1);
  await until('two failed writes', () => table.attempts.length >= 2);
  assert.equal(await pool.drain(Date.now() + 20), 10, 'the drain deadline passes with the rows still held');
  await pool.stop();
  assert.equal(wal.available, 10, 'released, claimable again');
  await wal.close();

  const reopened = await Wal.open({ dir, sizeLimitBytes: 64 * 2 ** 20, retentionMs: 3_600_000 });
  t.after(() => reopened.close());
  assert.equal(reopened.messages, 10);
  const claim = await reopened.claim(100);
  assert.deepEqual(claim?.messages.map(idOf), range(0, 10), 'in order, for the next start');
});

test('stop cuts a write that hangs (a locked table) by closing its sink: bounded, and the batch goes back to the WAL', async (t) => {
  const { wal, table, pool } = await setup(t);
  table.hang = true;
  await append(wal, range(0, 10));
  pool.setCount(1);
  await until('a write in flight', () => table.inFlight === 1);
  const started = performance.now();
  await pool.stop(50);
  const took = performance.now() - started;
  assert.ok(took < 2000, `stop took ${Math.round(took)} ms with a write hanging`);
  assert.equal(table.inFlight, 0, 'the hung write was cut');
  assert.equal(table.telemetry.length, 0);
  assert.equal(wal.available, 10, 'released, claimable again');
});

test('a drain that waits on a source that does not commit adds no listener per turn', async (t) => {
  const { wal, table, pool } = await setup(t);
  table.outage = codeError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');
  await append(wal, range(0, 10));
  pool.setCount(1);
  const before = wal.listenerCount('committed');
  assert.equal(await pool.drain(Date.now() + 800), 10, 'several 250 ms turns, nothing committed');
  assert.equal(wal.listenerCount('committed'), before);
});

test('the flusher count changes live: new flushers write at once, surplus ones finish their batch and close', async (t) => {
  // Groups of 5 and batches of 5: each flusher holds one group at a time.
  const { wal, table, metrics, pool } = await setup(t, { batchSize: 5 }, undefined, { maxGroupMessages: 5 });
  table.hold();
  await append(wal, range(0, 40));
  pool.setCount(3);
  assert.equal(pool.count, 3);
  await until('three writes in flight at once', () => table.inFlight === 3);
  assert.equal((await metrics.activeFlushers.get()).values[0]?.value, 3);

  pool.setCount(1);
  assert.equal(pool.count, 1);
  assert.equal((await metrics.activeFlushers.get()).values[0]?.value, 1);
  table.release();
  await until('the WAL is empty', () => wal.messages === 0);
  await until('two flushers stopped', () => table.closed === 2);
  assert.deepEqual(ids(table.telemetry), range(0, 40), 'the retired flushers committed their batches, once');

  pool.setCount(2);
  assert.equal(table.opened, 4, 'one new flusher (and its connection) next to the remaining one');
  table.hold();
  await append(wal, range(40, 10));
  await until('both flushers writing', () => table.inFlight === 2);
  table.release();
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(table.telemetry), range(0, 50));
  await pool.stop();
  assert.equal(table.closed, 4);
});

test('batchBytes of waiting messages starts a batch without waiting for the flush interval', async (t) => {
  const { wal, table, pool } = await setup(t, { flushIntervalMs: 60_000, batchBytes: 1024 });
  await append(wal, range(0, 30));
  assert.ok(wal.availableBytes >= 1024 && wal.available < 1000, 'over the byte bound, under the row bound');
  pool.setCount(1);
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(table.telemetry), range(0, 30));
});

/** PostgreSQL's refusal of a row no partition takes: 23514 without a constraint name. */
const noPartition = () => codeError('no partition of relation "t" found for row', '23514');

test('a missing partition refuses every row: nothing is dead-lettered, the pool reports 23514, rows land once it exists', async (t) => {
  const dlq = new MemoryDeadLetters();
  const { wal, table, metrics, pool } = await setup(t, {}, dlq);
  table.refuse = (rows) => (rows.some((r) => r.kind === 'telemetry') ? noPartition() : undefined);
  await append(wal, range(0, 40));
  pool.setCount(2);
  await until('ten failed writes', () => table.attempts.length >= 10);
  assert.ok(table.attempts.length < 40, 'retried whole, not split into single rows');
  assert.equal(dlq.puts, 0);
  assert.equal(pool.healthy, false);
  assert.match(
    pool.problem ?? '',
    /no partition of relation "t" found for row \(23514\): no partition .* create the partition/,
  );
  const blocked = (await metrics.sinkBlocked.get()).values;
  assert.deepEqual(
    blocked.map((v) => [v.labels.sqlstate, v.value]),
    [['23514', 1]],
  );

  table.refuse = undefined;
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(table.telemetry), range(0, 40));
  assert.equal(dlq.puts, 0);
  assert.equal(pool.healthy, true);
  assert.deepEqual((await metrics.sinkBlocked.get()).values, []);
});

test('a CHECK constraint (23514 naming it) is the row: split and dead-lettered', async (t) => {
  const dlq = new MemoryDeadLetters();
  const { wal, table, pool } = await setup(t, {}, dlq);
  table.refuse = (rows) =>
    rows.some((r) => idOf(r.message) === 7)
      ? Object.assign(codeError('new row violates check constraint "c"', '23514'), { constraint: 'c' })
      : undefined;
  await append(wal, range(0, 20));
  pool.setCount(1);
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(dlq.stored), [7]);
  assert.equal(table.telemetry.length, 19);
});

test('stack depth (54001): alone among rows the table takes, the row; on every row, the table (retried, kept)', async (t) => {
  const dlq = new MemoryDeadLetters();
  const { wal, table, pool } = await setup(t, {}, dlq);
  const deep = (rows: Row[]) => rows.some((r) => idOf(r.message) % 10 === 3);
  table.refuse = (rows) => (deep(rows) ? codeError('stack depth limit exceeded', '54001') : undefined);
  await append(wal, range(0, 20));
  pool.setCount(1);
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(dlq.stored), [3, 13], 'isolated next to rows the table took');

  // Every row fails alone the same way: the server's limit, not the rows.
  table.refuse = () => codeError('stack depth limit exceeded', '54001');
  await append(wal, range(20, 4));
  await until('several rounds of retries', () => table.attempts.length > 40);
  assert.deepEqual(ids(dlq.stored), [3, 13], 'nothing more dead-lettered');
  assert.match(pool.problem ?? '', /54001.*max_stack_depth/);
  table.refuse = undefined;
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(
    ids(table.telemetry),
    range(0, 24).filter((id) => id !== 3 && id !== 13),
  );
});

test('with the dead-letter store down, a poison row in every batch holds back neither the good rows nor the flushers', async (t) => {
  const dlq = new MemoryDeadLetters();
  dlq.outage = codeError('connect ECONNREFUSED 127.0.0.1:9000', 'ECONNREFUSED');
  // Batches of 10 (groups of 10), one poison row in each, two flushers.
  const { wal, table, pool } = await setup(t, { batchSize: 10 }, dlq, { maxGroupMessages: 10 });
  const poison = range(0, 8).map((b) => b * 10 + 4);
  for (let b = 0; b < 8; b++) await append(wal, range(b * 10, 10), poison);
  pool.setCount(2);
  // Only the poison rows wait in the WAL; every good row is committed.
  await until('the good rows committed and deleted', () => table.telemetry.length === 72 && wal.messages === 8);
  assert.deepEqual(dlq.stored, []);

  dlq.outage = undefined;
  await until('the WAL is empty', () => wal.messages === 0);
  assert.deepEqual(ids(dlq.stored), poison, 'each poison row dead-lettered once');
  assert.deepEqual(
    ids(table.telemetry),
    range(0, 80).filter((id) => !poison.includes(id)),
  );
});

test('dead letters still waiting at stop go back to the WAL on disk, for the next start', async (t) => {
  const dlq = new MemoryDeadLetters();
  dlq.outage = codeError('connect ECONNREFUSED 127.0.0.1:9000', 'ECONNREFUSED');
  const { dir, wal, table, pool } = await setup(t, {}, dlq);
  await append(wal, range(0, 10), [2]);
  pool.setCount(1);
  await until('the good rows committed', () => table.telemetry.length === 9);
  await until('a retried PUT', () => dlq.puts >= 2);
  await pool.stop();
  await wal.close();
  const reopened = await Wal.open({ dir, sizeLimitBytes: 64 * 2 ** 20, retentionMs: 3_600_000 });
  t.after(() => reopened.close());
  const claim = await reopened.claim(100);
  assert.deepEqual(claim?.messages.map(idOf), [2], 'only the rejected row is left');
});
