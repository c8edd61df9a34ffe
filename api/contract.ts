// The worker↔operator contract: the names both sides must spell the same. The operator renders worker pods
// with these paths, ports and environment variables and reads these metrics; the worker serves and reads
// them. worker/metrics.test.ts checks that the worker's registry exposes every series the autoscaler reads.

import { GROUP, PLURAL, VERSION } from './types.ts';

/** HTTP paths of the worker's listeners (and of the operator's own). */
export const HTTP_PATHS = {
  metrics: '/metrics',
  healthz: '/healthz',
  readyz: '/readyz',
  /** The worker's health per subsystem as JSON (api/worker-health.ts): the operator's conditions read it. */
  subsystems: '/subsystems',
} as const;

/**
 * The worker's two listeners: the container ports the operator renders (the autoscaler finds /metrics by the
 * port name) and the defaults of `mqtt2pg worker --metrics-port / --health-port`.
 */
export const WORKER_PORTS = {
  metrics: { name: 'metrics', port: 9090 },
  health: { name: 'health', port: 8081 },
} as const;

/** The operator's listener (/metrics, /healthz, /readyz): `mqtt2pg operator --listen` and its manifests. */
export const OPERATOR_PORT = { name: 'http', port: 8080 } as const;

/** Where a worker pod finds its pipeline: the ConfigMap, mounted as a directory so updates reach it live. */
export const WORKER_CONFIG_DIR = '/etc/mqtt2pg';
/** The ConfigMap key, and so the file name in WORKER_CONFIG_DIR. */
export const WORKER_CONFIG_FILE = 'pipeline.yaml';
export const WORKER_CONFIG_PATH = `${WORKER_CONFIG_DIR}/${WORKER_CONFIG_FILE}`;
/** Secret values as <dir>/<secret>/<key>: where the operator mounts them and where the worker looks by default. */
export const DEFAULT_SECRETS_DIR = '/var/run/secrets/mqtt2pg';
/** The WAL volume's mount path in a worker pod. */
export const WORKER_WAL_DIR = '/var/lib/mqtt2pg/wal';

/** Environment variables the manifests set through the downward API and the CLI reads. */
export const ENV = {
  /** The worker's pod name: its MQTT client id suffix. */
  podName: 'POD_NAME',
  /** The pod's namespace: turns on the worker's scale watch; the operator's lease namespace. */
  podNamespace: 'POD_NAMESPACE',
  /**
   * "ephemeral" on worker pods whose name (and so MQTT client id) never comes back (Deployment pods): a
   * stopping worker then leaves the shared subscription and ends its session, since a session nobody resumes
   * would keep taking its share of the traffic until it expires. Unset: the identity is stable (StatefulSet
   * ordinals, a worker outside Kubernetes), and the session is kept for the next start to resume.
   */
  identity: 'MQTT2PG_IDENTITY',
  /** Namespaces the operator watches (comma-separated; empty: all). */
  watchNamespace: 'WATCH_NAMESPACE',
} as const;

/** The API path of a namespace's IngestPipelines (the worker watches its own for the live flusher count). */
export const pipelinesPath = (namespace: string) =>
  `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}`;

/** The worker's Prometheus metrics: read by the autoscaler, the chart's alerts and the benchmark. */
export const WORKER_METRICS = {
  received: 'mqtt2pg_received_total',
  acked: 'mqtt2pg_acked_total',
  duplicates: 'mqtt2pg_duplicates_redelivered_total',
  duplicatesDropped: 'mqtt2pg_duplicates_dropped_total',
  flushedRows: 'mqtt2pg_flushed_rows_total',
  unparseable: 'mqtt2pg_unparseable_total',
  deadLetters: 'mqtt2pg_dead_letters_total',
  retries: 'mqtt2pg_retries_total',
  sinkBlocked: 'mqtt2pg_sink_blocked',
  pendingDeadLetters: 'mqtt2pg_dead_letters_pending',
  batchDuration: 'mqtt2pg_batch_duration_seconds',
  batchRows: 'mqtt2pg_batch_rows',
  receiveToCommit: 'mqtt2pg_receive_to_commit_seconds',
  flushers: 'mqtt2pg_flushers',
  backpressure: 'mqtt2pg_backpressure',
  brokerConnected: 'mqtt2pg_broker_connected',
  brokerSessionLost: 'mqtt2pg_broker_session_lost_total',
  receiveMaximumExceeded: 'mqtt2pg_broker_receive_maximum_exceeded_total',
  walMessages: 'mqtt2pg_wal_messages',
  walBytes: 'mqtt2pg_wal_bytes',
  walDiskBytes: 'mqtt2pg_wal_disk_bytes',
  walOldestUnflushedAge: 'mqtt2pg_wal_oldest_unflushed_age_seconds',
  walExpired: 'mqtt2pg_wal_expired_total',
  walQuarantinedRecords: 'mqtt2pg_wal_quarantined_records',
  walQuarantinedMessages: 'mqtt2pg_wal_quarantined_messages',
  walVolumeFreeBytes: 'mqtt2pg_wal_volume_free_bytes',
  walVolumeLow: 'mqtt2pg_wal_volume_low',
  spilled: 'mqtt2pg_spilled_messages_total',
  spillReplayed: 'mqtt2pg_spill_replayed_messages_total',
} as const;

/** Prefix of the worker's process metrics (prom-client's defaults), e.g. mqtt2pg_process_cpu_seconds_total. */
export const WORKER_PROCESS_METRICS_PREFIX = 'mqtt2pg_';
export const WORKER_PROCESS_METRICS = {
  cpuSeconds: `${WORKER_PROCESS_METRICS_PREFIX}process_cpu_seconds_total`,
  residentMemory: `${WORKER_PROCESS_METRICS_PREFIX}process_resident_memory_bytes`,
} as const;

/** The series the autoscaler reads from each worker pod's /metrics (operator/autoscale/signals.ts). */
export const AUTOSCALER_SERIES = {
  walMessages: WORKER_METRICS.walMessages,
  oldestUnflushedAge: WORKER_METRICS.walOldestUnflushedAge,
  received: WORKER_METRICS.received,
  flushedRows: WORKER_METRICS.flushedRows,
  batchSecondsSum: `${WORKER_METRICS.batchDuration}_sum`,
  batchCount: `${WORKER_METRICS.batchDuration}_count`,
  flushers: WORKER_METRICS.flushers,
  backpressure: WORKER_METRICS.backpressure,
} as const;
