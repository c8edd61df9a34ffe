// The worker's Prometheus metrics, named in api/contract.ts (the autoscaler and the chart's alerts read them).
// Durability gauges no peer exposes: messages acked but not committed, oldest unflushed age, receive→commit
// latency, duplicates redelivered.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { WORKER_METRICS as M, WORKER_PROCESS_METRICS_PREFIX } from '../api/contract.ts';

export interface WalView {
  messages: number;
  bytes: number;
  diskBytes: number;
  oldestReceivedAt: number | undefined;
  expired: number;
  quarantine?: { records: number; messages: number };
  volume?: { freeBytes: number; low: boolean } | undefined;
}

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly received: Counter<'qos'>;
  readonly acked: Counter;
  readonly duplicates: Counter;
  readonly duplicatesDropped: Counter<'route'>;
  readonly flushedRows: Counter;
  readonly unparseable: Counter<'reason'>;
  readonly deadLetters: Counter<'sqlstate_class'>;
  readonly retries: Counter<'target'>;
  readonly sinkBlocked: Gauge<'sqlstate'>;
  readonly pendingDeadLetters: Gauge;
  readonly batchDuration: Histogram;
  readonly batchRows: Histogram;
  readonly receiveToCommit: Histogram;
  readonly activeFlushers: Gauge;
  readonly backpressure: Gauge;
  readonly connected: Gauge;
  readonly spilled: Counter;
  readonly spillReplayed: Counter;
  readonly sessionLost: Counter;
  readonly receiveMaximumExceeded: Counter;

  constructor(pipeline: string, wal: () => WalView | undefined) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ pipeline });
    collectDefaultMetrics({ register: this.registry, prefix: WORKER_PROCESS_METRICS_PREFIX });
    this.received = new Counter({
      name: M.received,
      help: 'MQTT messages received',
      labelNames: ['qos'],
      registers,
    });
    this.acked = new Counter({
      name: M.acked,
      help: 'QoS 1 messages acknowledged to the broker (after the WAL fsync)',
      registers,
    });
    this.duplicates = new Counter({
      name: M.duplicates,
      help: 'Messages the broker redelivered (DUP flag): counted duplicates of at-least-once delivery',
      registers,
    });
    this.duplicatesDropped = new Counter({
      name: M.duplicatesDropped,
      help: 'Rows of routes with a dedup key whose key the table already held, dropped in the committing transaction',
      labelNames: ['route'],
      registers,
    });
    this.flushedRows = new Counter({
      name: M.flushedRows,
      help: 'Rows committed to the telemetry table',
      registers,
    });
    this.unparseable = new Counter({
      name: M.unparseable,
      help: 'Rows committed to the unparseable table, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.deadLetters = new Counter({
      name: M.deadLetters,
      help: 'Rows PostgreSQL rejected, written to the DLQ, by SQLSTATE class',
      labelNames: ['sqlstate_class'],
      registers,
    });
    this.retries = new Counter({
      name: M.retries,
      help: 'Retried writes after connection or server errors',
      labelNames: ['target'],
      registers,
    });
    this.sinkBlocked = new Gauge({
      name: M.sinkBlocked,
      help: '1 while writes to PostgreSQL fail for a reason of the table, the server or the network (not a row), labelled with the SQLSTATE or socket error; /readyz says what to fix',
      labelNames: ['sqlstate'],
      registers,
    });
    this.pendingDeadLetters = new Gauge({
      name: M.pendingDeadLetters,
      help: 'Rows PostgreSQL rejected that wait in the WAL for the dead-letter store (S3) to take them',
      registers,
    });
    this.batchDuration = new Histogram({
      name: M.batchDuration,
      help: 'Time to write one batch (BEGIN..COMMIT, splits included)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.batchRows = new Histogram({
      name: M.batchRows,
      help: 'Rows per flushed batch',
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000],
      registers,
    });
    this.receiveToCommit = new Histogram({
      name: M.receiveToCommit,
      help: 'From reading the PUBLISH to the commit of its row',
      // Fine below a second: the benchmark reads p50/p99 from these buckets.
      buckets: [
        0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2, 5, 10, 30, 60,
      ],
      registers,
    });
    this.activeFlushers = new Gauge({ name: M.flushers, help: 'Flushers running', registers });
    this.backpressure = new Gauge({
      name: M.backpressure,
      help: '1 while the WAL is full (or its volume low on space) and the worker has stopped reading from the broker',
      registers,
    });
    this.connected = new Gauge({
      name: M.brokerConnected,
      help: '1 while connected and subscribed to the broker',
      registers,
    });
    this.spilled = new Counter({
      name: M.spilled,
      help: 'Messages a stopping worker wrote to the bucket because its WAL goes with the pod (Ephemeral)',
      registers,
    });
    this.spillReplayed = new Counter({
      name: M.spillReplayed,
      help: "Messages read back from spill objects into this worker's WAL",
      registers,
    });
    this.sessionLost = new Counter({
      name: M.brokerSessionLost,
      help: 'Reconnects on which the broker no longer had the session the worker asked it to keep (what it held may be lost upstream)',
      registers,
    });
    this.receiveMaximumExceeded = new Counter({
      name: M.receiveMaximumExceeded,
      help: 'QoS 1 messages the broker sent beyond the Receive Maximum the worker asked for (a broker ignoring it)',
      registers,
    });
    new Gauge({
      name: M.walMessages,
      help: 'Messages acknowledged to the broker but not yet committed (in the WAL)',
      registers,
      collect() {
        this.set(wal()?.messages ?? 0);
      },
    });
    new Gauge({
      name: M.walBytes,
      help: 'Bytes of WAL records',
      registers,
      collect() {
        this.set(wal()?.bytes ?? 0);
      },
    });
    new Gauge({
      name: M.walDiskBytes,
      help: 'Bytes of the WAL directory on disk (records plus LevelDB files and deleted records not yet compacted)',
      registers,
      collect() {
        this.set(wal()?.diskBytes ?? 0);
      },
    });
    new Gauge({
      name: M.walOldestUnflushedAge,
      help: 'Age of the oldest message not yet committed',
      registers,
      collect() {
        const oldest = wal()?.oldestReceivedAt;
        this.set(oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
      },
    });
    new Gauge({
      name: M.walQuarantinedRecords,
      help: 'Damaged WAL records (or keys) moved aside: kept, never replayed (docs/reliability.md)',
      registers,
      collect() {
        this.set(wal()?.quarantine?.records ?? 0);
      },
    });
    new Gauge({
      name: M.walQuarantinedMessages,
      help: 'Messages in damaged WAL records moved aside (kept, never replayed; docs/reliability.md)',
      registers,
      collect() {
        this.set(wal()?.quarantine?.messages ?? 0);
      },
    });
    new Gauge({
      name: M.walVolumeFreeBytes,
      help: 'Free bytes on the WAL volume',
      registers,
      collect() {
        const v = wal()?.volume;
        if (v) this.set(v.freeBytes);
      },
    });
    new Gauge({
      name: M.walVolumeLow,
      help: '1 while free space on the WAL volume is below its reserve and the worker has stopped reading',
      registers,
      collect() {
        this.set(wal()?.volume?.low ? 1 : 0);
      },
    });
    new Gauge({
      name: M.walExpired,
      help: 'Messages expired from the WAL by the retention limit (lost by configuration)',
      registers,
      collect() {
        this.set(wal()?.expired ?? 0);
      },
    });
  }
}
