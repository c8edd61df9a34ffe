// The IngestPipeline API types: what users write (every field optional unless the schema requires it), the
// status the operator writes, and the API's names. The JSON Schema that checks them is in schema.ts.

export const GROUP = 'mqtt2pg.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'IngestPipeline';
export const PLURAL = 'ingestpipelines';
export const SINGULAR = 'ingestpipeline';
export const SHORT_NAMES = ['ingp'];
export const BROKER_URL_PATTERN = '^(mqtt|mqtts|tcp|ssl|tls)://[^\\s/]+(/.*)?$';

// ---------------------------------------------------------------------------------------------------------
// Types (what users write; every field optional unless the schema requires it)

export interface SecretKeyRef {
  name: string;
  key?: string;
}

export interface BasicAuthSecretRef {
  name: string;
  usernameKey?: string;
  passwordKey?: string;
}

export interface TlsClientCertSecretRef {
  name: string;
  certKey?: string;
  keyKey?: string;
}

export interface S3CredentialsSecretRef {
  name: string;
  accessKeyIdKey?: string;
  secretAccessKeyKey?: string;
}

export interface SourceSpec {
  brokers: string[];
  topicFilter?: string;
  sharedGroup?: string;
  qos?: 0 | 1;
  protocolVersion?: 4 | 5;
  clientIdPrefix?: string;
  keepalive?: string;
  sessionExpiry?: string;
  receiveMaximum?: number;
  connectTimeout?: string;
  auth?: { secretRef: BasicAuthSecretRef };
  tls?: {
    enabled?: boolean;
    caSecretRef?: SecretKeyRef;
    clientCertSecretRef?: TlsClientCertSecretRef;
    serverName?: string;
    insecureSkipVerify?: boolean;
  };
}

export interface PostgresSpec {
  host: string;
  port?: number;
  database: string;
  credentialsSecretRef: BasicAuthSecretRef;
  sslMode?: 'disable' | 'require' | 'verify-ca' | 'verify-full';
  caSecretRef?: SecretKeyRef;
  applicationName?: string;
  statementTimeout?: string;
}

export interface ResourceRequirements {
  requests?: Record<string, string | number>;
  limits?: Record<string, string | number>;
}

export interface PgBouncerSpec {
  enabled?: boolean;
  image?: string;
  replicas?: number;
  poolSize?: number;
  maxClientConn?: number;
  resources?: ResourceRequirements;
}

export interface SinkSpec {
  postgres: PostgresSpec;
  schema?: string;
  table?: string;
  unparseableTable?: string;
  payloadFormat?: 'json' | 'binary';
  pgbouncer?: PgBouncerSpec;
}

export interface WalSpec {
  sizeLimit?: string;
  retention?: string;
  storage?: {
    type?: 'Ephemeral' | 'Persistent';
    size?: string;
    storageClassName?: string;
  };
}

export interface FlusherSpec {
  batchSize?: number;
  batchBytes?: string;
  flushInterval?: string;
  flushers?: number;
  minFlushers?: number;
  maxFlushers?: number;
  retry?: { initialBackoff?: string; maxBackoff?: string };
}

/** What one message may be (docs/reliability.md "Limits"): what exceeds a limit has a place to go. */
export interface LimitsSpec {
  maxPayloadSize?: string;
  maxPacketSize?: string;
  maxJsonDepth?: number;
}

export interface DeadLetterSpec {
  s3: {
    bucket: string;
    prefix?: string;
    endpoint?: string;
    region?: string;
    forcePathStyle?: boolean;
    credentialsSecretRef?: S3CredentialsSecretRef;
  };
}

export interface AutoscalingSpec {
  enabled?: boolean;
  interval?: string;
  minReplicas?: number;
  maxReplicas?: number;
  minPoolSize?: number;
  maxPoolSize?: number;
  targetOldestUnflushedAge?: string;
  targetCommitLatency?: string;
  scaleUpCooldown?: string;
  scaleDownCooldown?: string;
  postgresMonitoring?: {
    host?: string;
    port?: number;
    database?: string;
    credentialsSecretRef: BasicAuthSecretRef;
  };
}

export interface PodSpecOverrides {
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  nodeSelector?: Record<string, string>;
  tolerations?: Array<Record<string, unknown>>;
  affinity?: Record<string, unknown>;
  priorityClassName?: string;
}

/** PostgreSQL types a route column may have (docs/routes.md). */
export type ColumnType =
  | 'text'
  | 'uuid'
  | 'smallint'
  | 'integer'
  | 'bigint'
  | 'real'
  | 'double precision'
  | 'numeric'
  | 'boolean'
  | 'timestamptz'
  | 'date'
  | 'jsonb'
  | 'bytea';
export type TimestampFormat = 'rfc3339' | 'epochSeconds' | 'epochMillis' | 'epochMicros' | 'epochNanos';

export interface ColumnSpec {
  /** SQL identifier (validated, quoted). */
  name: string;
  type: ColumnType;
  /** topic.<capture> | topic | payload | payload.<json path a.b[0].c> | property.<user property> | contentType | receivedAt */
  from: string;
  /** timestamptz/date only; default: rfc3339 for strings, epochMillis for numbers. */
  format?: TimestampFormat;
  /** Default false (nullable). */
  required?: boolean;
}

export interface RouteSpec {
  name: string;
  /** Subscribed as $share/<group>/<filter>. */
  topicFilter: string;
  /** {name}, {name:uuid}, {rest+} */
  topicPattern: string;
  /** In sink.schema. */
  table: string;
  /** Default json. */
  payloadFormat?: 'json' | 'binary' | 'text';
  columns: ColumnSpec[];
  /** Column names. */
  dedup?: { key: string[] };
  partitioning?: { column: string; interval: string; retention?: string; premake?: number };
}

export interface IngestPipelineSpec {
  source: SourceSpec;
  sink: SinkSpec;
  routes?: RouteSpec[];
  wal?: WalSpec;
  flusher?: FlusherSpec;
  limits?: LimitsSpec;
  deadLetter?: DeadLetterSpec;
  autoscaling?: AutoscalingSpec;
  replicas?: number;
  image?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  imagePullSecrets?: Array<{ name: string }>;
  resources?: ResourceRequirements;
  pod?: PodSpecOverrides;
  terminationGracePeriodSeconds?: number;
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  networkPolicy?: NetworkPolicySpec;
}

/** A NetworkPolicy peer as in networking.k8s.io/v1 (label selectors passed through). */
export interface NetworkPolicyPeerSpec {
  namespaceSelector?: Record<string, unknown>;
  podSelector?: Record<string, unknown>;
}

export interface NetworkPolicySpec {
  enabled?: boolean;
  metricsFrom?: NetworkPolicyPeerSpec[];
}

export interface Condition {
  type: 'Ready' | 'Progressing' | 'Degraded' | (string & {});
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface ScaleTriple {
  flushers?: number;
  poolSize?: number;
  replicas?: number;
}

/** A WAL volume of a worker ordinal that no longer runs, and its drain Job (operator/wal-drain.ts). */
export interface WalDrainStatus {
  /** The PersistentVolumeClaim, `wal-<pipeline>-worker-<ordinal>`. */
  claim: string;
  ordinal: number;
  /** The drain Job, while one exists. */
  job?: string;
  /** Messages still in the WAL, as the last finished drain attempt reported them (absent until one has). */
  messagesLeft?: number;
  /** Drain attempts that ended without emptying the WAL. */
  failedAttempts?: number;
  /** What the drain waits for, or why its last attempt stopped short. */
  message?: string;
}

export interface IngestPipelineStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  replicas?: number;
  readyReplicas?: number;
  /** Label selector of the worker pods (scale subresource). */
  selector?: string;
  flushers?: number;
  poolSize?: number;
  ingestRate?: number;
  backlog?: number;
  oldestUnflushedSeconds?: number;
  /** WAL volumes of removed worker ordinals being drained, with what they still hold. */
  walDrains?: WalDrainStatus[];
  autoscaling?: {
    current?: ScaleTriple;
    desired?: ScaleTriple;
    reason?: string;
    lastChangeTime?: string;
    signals?: Record<string, unknown>;
  };
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  generation?: number;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface IngestPipeline {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: IngestPipelineSpec;
  status?: IngestPipelineStatus;
}
