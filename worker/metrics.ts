// The worker's Prometheus metrics (prefix mqtt2pg_). Durability gauges no peer exposes: messages acked but
// not committed, oldest unflushed age, receive→commit latency, duplicates redelivered.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface WalView {
  messages: number;
  bytes: number;
  oldestReceivedAt: number | undefined;
  expired: number;
}

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly received: Counter<'qos'>;
  readonly acked: Counter;
  readonly duplicates: Counter;
  readonly flushedRows: Counter;
  readonly unparseable: Counter<'reason'>;
  readonly deadLetters: Counter<'sqlstate_class'>;
  readonly retries: Counter<'target'>;
  readonly batchDuration: Histogram;
  readonly batchRows: Histogram;
  readonly receiveToCommit: Histogram;
  readonly activeFlushers: Gauge;
  readonly backpressure: Gauge;
  readonly connected: Gauge;

  constructor(pipeline: string, wal: () => WalView | undefined) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ pipeline });
    collectDefaultMetrics({ register: this.registry, prefix: 'mqtt2pg_' });
    this.received = new Counter({
      name: 'mqtt2pg_received_total',
      help: 'MQTT messages received',
      labelNames: ['qos'],
      registers,
    });
    this.acked = new Counter({
      name: 'mqtt2pg_acked_total',
      help: 'QoS 1 messages acknowledged to the broker (after the WAL fsync)',
      registers,
    });
    this.duplicates = new Counter({
      name: 'mqtt2pg_duplicates_redelivered_total',
      help: 'Messages the broker redelivered (DUP flag): counted duplicates of at-least-once delivery',
      registers,
    });
    this.flushedRows = new Counter({
      name: 'mqtt2pg_flushed_rows_total',
      help: 'Rows committed to the telemetry table',
      registers,
    });
    this.unparseable = new Counter({
      name: 'mqtt2pg_unparseable_total',
      help: 'Rows committed to the unparseable table, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.deadLetters = new Counter({
      name: 'mqtt2pg_dead_letters_total',
      help: 'Rows PostgreSQL rejected, written to the DLQ, by SQLSTATE class',
      labelNames: ['sqlstate_class'],
      registers,
    });
    this.retries = new Counter({
      name: 'mqtt2pg_retries_total',
      help: 'Retried writes after connection or server errors',
      labelNames: ['target'],
      registers,
    });
    this.batchDuration = new Histogram({
      name: 'mqtt2pg_batch_duration_seconds',
      help: 'Time to write one batch (BEGIN..COMMIT, splits included)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.batchRows = new Histogram({
      name: 'mqtt2pg_batch_rows',
      help: 'Rows per flushed batch',
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000],
      registers,
    });
    this.receiveToCommit = new Histogram({
      name: 'mqtt2pg_receive_to_commit_seconds',
      help: 'From reading the PUBLISH to the commit of its row',
      // Fine below a second: the benchmark reads p50/p99 from these buckets.
      buckets: [
        0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2, 5, 10, 30, 60,
      ],
      registers,
    });
    this.activeFlushers = new Gauge({ name: 'mqtt2pg_flushers', help: 'Flushers running', registers });
    this.backpressure = new Gauge({
      name: 'mqtt2pg_backpressure',
      help: '1 while the WAL is full and the worker has stopped reading from the broker',
      registers,
    });
    this.connected = new Gauge({
      name: 'mqtt2pg_broker_connected',
      help: '1 while connected and subscribed to the broker',
      registers,
    });
    new Gauge({
      name: 'mqtt2pg_wal_messages',
      help: 'Messages acknowledged to the broker but not yet committed (in the WAL)',
      registers,
      collect() {
        this.set(wal()?.messages ?? 0);
      },
    });
    new Gauge({
      name: 'mqtt2pg_wal_bytes',
      help: 'Bytes of WAL records',
      registers,
      collect() {
        this.set(wal()?.bytes ?? 0);
      },
    });
    new Gauge({
      name: 'mqtt2pg_wal_oldest_unflushed_age_seconds',
      help: 'Age of the oldest message not yet committed',
      registers,
      collect() {
        const oldest = wal()?.oldestReceivedAt;
        this.set(oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
      },
    });
    new Gauge({
      name: 'mqtt2pg_wal_expired_total',
      help: 'Messages expired from the WAL by the retention limit (lost by configuration)',
      registers,
      collect() {
        this.set(wal()?.expired ?? 0);
      },
    });
  }
}
