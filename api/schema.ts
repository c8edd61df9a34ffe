// The one JSON Schema of the IngestPipeline API, which both the API server (through the generated CRD) and
// `mqtt2pg validate` check against. Defaults live in code (defaults.ts), never in the schema: a schema default
// would make Argo CD show the live object out of sync with Git. defaults.test.ts checks every "Defaults to"
// text here against the code.

import { PIPELINE_NAME_RULE } from './names.ts';
import {
  arr,
  BYTES_PATTERN,
  basicAuthRef,
  bool,
  bytes,
  DURATION_PATTERN,
  duration,
  image,
  int,
  K8S_NAME_PATTERN,
  obj,
  passthrough,
  resources,
  type Schema,
  SQL_IDENTIFIER_PATTERN,
  secretKey,
  secretKeyRef,
  secretName,
  str,
} from './schema-builders.ts';
import { limitsSchema } from './schema-limits.ts';
import { routesSchema } from './schema-routes.ts';
import { statusSchema } from './schema-status.ts';
import { BROKER_URL_PATTERN } from './types.ts';

const sourceSchema: Schema = obj(
  'Where messages come from: the MQTT broker and the shared subscription the workers join.',
  {
    brokers: arr(
      'Broker URLs; workers connect to the first that answers. Schemes mqtt:// and mqtts:// (TLS), e.g. "mqtt://mosquitto.iot:1883". Credentials never go in the URL: use auth.secretRef.',
      str('Broker URL.', {
        pattern: BROKER_URL_PATTERN,
        maxLength: 512,
      }),
      {
        minItems: 1,
        maxItems: 16,
        'x-kubernetes-validations': [
          {
            rule: "self.all(u, !u.contains('@'))",
            message:
              'broker URLs must not carry credentials; put the user name and password in a Secret and reference it from source.auth.secretRef',
          },
        ],
      },
    ),
    topicFilter: str(
      'MQTT topic filter the workers subscribe to, without the $share/ prefix. Defaults to "t/+/d/+/evt/#", the device contract: t/{tenant}/d/{device_uuid}/evt/{path...}.',
      {
        minLength: 1,
        maxLength: 1024,
        'x-kubernetes-validations': [
          {
            rule: "!self.startsWith('$share/')",
            message: 'give the shared-subscription group in source.sharedGroup, not as a $share/ prefix in topicFilter',
          },
        ],
      },
    ),
    sharedGroup: str(
      'Shared-subscription group ($share/<group>/<filter>): all workers of the pipeline split the traffic. Defaults to the pipeline name.',
      { pattern: '^[A-Za-z0-9_-]{1,64}$' },
    ),
    qos: int(
      'Subscription QoS. 1 (the default) is at-least-once: a message is acknowledged only once it is fsynced in the WAL. 0 gives no delivery guarantee.',
      { enum: [0, 1] },
    ),
    protocolVersion: int('MQTT protocol version: 5 (default) or 4 (MQTT 3.1.1).', { enum: [4, 5] }),
    clientIdPrefix: str(
      'Client id prefix; each worker connects as <prefix>-<pod name> so its persistent session survives restarts. Defaults to "mqtt2pg".',
      { pattern: '^[A-Za-z0-9_-]{1,40}$' },
    ),
    keepalive: duration('MQTT keepalive interval. Defaults to 30s.', '30s'),
    sessionExpiry: duration(
      'How long the broker keeps a disconnected worker session and its queued messages (MQTT 5). Defaults to 1h.',
      '1h',
    ),
    receiveMaximum: int(
      'How many unacknowledged QoS 1 messages the broker may send a worker at once (MQTT 5 Receive Maximum). Larger keeps the pipe full while acknowledgements wait for the WAL fsync. Defaults to 2000.',
      { minimum: 1, maximum: 65535 },
    ),
    connectTimeout: duration(
      'How long one connection attempt waits for the broker to connect and answer CONNACK and SUBACK. A broker resuming a session with a large backlog can take longer than 10 s; a broker that accepts the connection but answers late is waited for again with backoff, never a startup failure. Defaults to 30s.',
      '30s',
    ),
    auth: obj('Broker authentication.', { secretRef: basicAuthRef('MQTT') }, { required: ['secretRef'] }),
    tls: obj(
      'TLS to the broker. Implied by an mqtts:// URL, a caSecretRef or a clientCertSecretRef.',
      {
        enabled: bool('Use TLS even with mqtt:// URLs. Defaults to false.'),
        caSecretRef: secretKeyRef('the CA bundle (PEM) that signs the broker certificate', 'ca.crt'),
        clientCertSecretRef: obj(
          'Client certificate and key for mutual TLS (a kubernetes.io/tls Secret fits).',
          {
            name: secretName(),
            certKey: secretKey('Key of the PEM certificate.', 'tls.crt'),
            keyKey: secretKey('Key of the PEM private key.', 'tls.key'),
          },
          { required: ['name'] },
        ),
        serverName: str('Server name to verify (SNI) when it differs from the URL host.', { maxLength: 253 }),
        insecureSkipVerify: bool('Skip broker certificate verification. For testing only. Defaults to false.'),
      },
      {},
    ),
  },
  { required: ['brokers'] },
);

const sinkSchema: Schema = obj(
  'Where rows go: PostgreSQL (through a PgBouncer the operator runs, unless disabled) and the table names.',
  {
    postgres: obj(
      'The PostgreSQL server. With pgbouncer.enabled the operator points workers at its PgBouncer, which connects here.',
      {
        host: str('Host name or IP address of PostgreSQL, e.g. "pg-rw.db.svc".', {
          minLength: 1,
          maxLength: 253,
          pattern: '^[A-Za-z0-9]([-A-Za-z0-9.:]*[A-Za-z0-9])?$',
        }),
        port: int('Port. Defaults to 5432.', { minimum: 1, maximum: 65535 }),
        database: str('Database name.', { pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$' }),
        credentialsSecretRef: basicAuthRef('PostgreSQL'),
        sslMode: str('TLS to PostgreSQL: disable (default), require, verify-ca or verify-full.', {
          enum: ['disable', 'require', 'verify-ca', 'verify-full'],
        }),
        caSecretRef: secretKeyRef('the CA bundle (PEM) for verify-ca / verify-full', 'ca.crt'),
        applicationName: str('application_name reported to PostgreSQL. Defaults to "mqtt2pg".', {
          pattern: '^[A-Za-z0-9_.-]{1,63}$',
        }),
        statementTimeout: duration(
          'Limit for one flush transaction (SET LOCAL statement_timeout). Defaults to 60s.',
          '60s',
        ),
      },
      { required: ['host', 'database', 'credentialsSecretRef'] },
    ),
    schema: str('Schema of the tables; created by the migrations if missing. Defaults to "public".', {
      pattern: SQL_IDENTIFIER_PATTERN,
    }),
    table: str('Telemetry table. Defaults to "telemetry".', { pattern: SQL_IDENTIFIER_PATTERN }),
    unparseableTable: str(
      'Side table for messages that break the device contract (topic shape, payload format). Defaults to "telemetry_unparseable".',
      { pattern: SQL_IDENTIFIER_PATTERN },
    ),
    payloadFormat: str(
      'Payload contract: json (default; stored as jsonb, non-JSON payloads go to the unparseable table) or binary (stored as bytea as received).',
      { enum: ['json', 'binary'] },
    ),
    pgbouncer: obj('The PgBouncer the operator runs in front of PostgreSQL (transaction pooling).', {
      enabled: bool(
        'Run a PgBouncer for this pipeline. Defaults to true. When false, workers connect to postgres.host directly (point it at your own pooler).',
      ),
      image: image('PgBouncer', 'the operator default PgBouncer image'),
      replicas: int('PgBouncer pods. Defaults to 1.', { minimum: 1, maximum: 20 }),
      poolSize: int(
        'Server connections per database/user pair (default_pool_size). The autoscaler moves it within autoscaling.minPoolSize..maxPoolSize. Defaults to 10.',
        { minimum: 1, maximum: 1000 },
      ),
      maxClientConn: int('Client connections PgBouncer accepts. Defaults to 1000.', { minimum: 1, maximum: 100000 }),
      resources: resources('the PgBouncer container'),
    }),
  },
  { required: ['postgres'] },
);

const walSchema: Schema = obj(
  'The worker write-ahead log: every acknowledged message is on disk here until committed.',
  {
    sizeLimit: bytes(
      'Most bytes the WAL holds; when full the worker stops reading from the broker (which keeps the messages) until flushes free space. Defaults to 1Gi.',
      '1Gi',
    ),
    retention: duration(
      'Entries older than this are expired (counted and logged) instead of flushed; only reached after a very long PostgreSQL outage. Defaults to 168h.',
      '168h',
    ),
    storage: obj(
      'WAL volume.',
      {
        type: str(
          'Persistent (default; a StatefulSet with a PVC per pod: pod names, MQTT client ids and WALs survive pod deletion, eviction and rollouts) or Ephemeral (a Deployment with an emptyDir: survives container restarts but not pod deletion; a stopped pod ends its broker session, and spills what it could not drain to the deadLetter bucket, where the other workers replay it; without a bucket that rest is lost). Immutable.',
          { enum: ['Ephemeral', 'Persistent'] },
        ),
        size: bytes(
          "Volume size (the PVC, or the emptyDir limit). Defaults to the larger of 1.5 × sizeLimit and sizeLimit + 64Mi: room beside the records for LevelDB's own files (its log, MANIFEST, and a compaction's new tables before the old ones go).",
          '2Gi',
        ),
        storageClassName: str('StorageClass of the PVCs (Persistent only). Defaults to the cluster default.', {
          pattern: K8S_NAME_PATTERN,
          maxLength: 253,
        }),
      },
      {
        'x-kubernetes-validations': [
          {
            rule: "(has(self.type) ? self.type : 'Persistent') == (has(oldSelf.type) ? oldSelf.type : 'Persistent')",
            message:
              'wal.storage.type is immutable: switching between Ephemeral and Persistent would lose unflushed WAL entries; create a new pipeline instead',
          },
        ],
      },
    ),
  },
);

const flusherSchema: Schema = obj(
  'How the WAL is flushed to PostgreSQL.',
  {
    batchSize: int('Most rows per COPY transaction. Defaults to 5000.', { minimum: 1, maximum: 100000 }),
    batchBytes: bytes(
      'Most message bytes per COPY transaction (a batch holds at least one WAL group, so it may pass this by one group of up to 4Mi): with batchSize, it bounds a flusher memory whatever devices send. Defaults to 8Mi.',
      '8Mi',
    ),
    flushInterval: duration(
      'Longest a row waits for its batch to fill before it is flushed anyway. Defaults to 100ms.',
      '100ms',
    ),
    flushers: int(
      'Concurrent flushers (PostgreSQL connections) per worker pod when autoscaling is off, and the starting count when it is on. Defaults to 2.',
      { minimum: 1, maximum: 64 },
    ),
    minFlushers: int('Lower bound for the autoscaler. Defaults to 1.', { minimum: 1, maximum: 64 }),
    maxFlushers: int('Upper bound for the autoscaler. Defaults to 8.', { minimum: 1, maximum: 64 }),
    retry: obj('Backoff for connection and server errors (retried forever; never dead-lettered).', {
      initialBackoff: duration('First retry delay. Defaults to 100ms.', '100ms'),
      maxBackoff: duration('Longest retry delay. Defaults to 30s.', '30s'),
    }),
  },
  {
    'x-kubernetes-validations': [
      {
        rule: '!has(self.minFlushers) || !has(self.maxFlushers) || self.minFlushers <= self.maxFlushers',
        message: 'flusher.minFlushers must not exceed flusher.maxFlushers',
      },
    ],
  },
);

const deadLetterSchema: Schema = obj(
  'Dead-letter queue for rows PostgreSQL rejects (constraint or data errors). Without it, rejected rows go to the unparseable table with reason "rejected".',
  {
    s3: obj(
      'S3 or any S3-compatible store (MinIO, Ceph RGW, R2...). Objects are JSON Lines, keyed <prefix><pipeline>/<date>/<batch>.jsonl.',
      {
        bucket: str('Bucket (must exist).', { pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' }),
        prefix: str('Key prefix. Defaults to "mqtt2pg/".', { maxLength: 512 }),
        endpoint: str('Endpoint URL for S3-compatible stores, e.g. "http://minio.storage:9000". Defaults to AWS.', {
          pattern: '^https?://[^\\s/]+(/.*)?$',
          maxLength: 512,
          'x-kubernetes-validations': [
            {
              rule: "!self.contains('@')",
              message:
                'the S3 endpoint must not carry credentials; put them in a Secret and reference it from deadLetter.s3.credentialsSecretRef',
            },
          ],
        }),
        region: str('Region. Defaults to "us-east-1".', { pattern: '^[a-z0-9-]{1,32}$' }),
        forcePathStyle: bool('Path-style addressing (most S3-compatible stores need it). Defaults to false.'),
        credentialsSecretRef: obj(
          'Secret with the access key; omit to use the pod default credentials chain (e.g. IRSA).',
          {
            name: secretName(),
            accessKeyIdKey: secretKey('Key of the access key id.', 'accessKeyId'),
            secretAccessKeyKey: secretKey('Key of the secret access key.', 'secretAccessKey'),
          },
          { required: ['name'] },
        ),
      },
      { required: ['bucket'] },
    ),
  },
  { required: ['s3'] },
);

const autoscalingSchema: Schema = obj(
  'Flusher autoscaling against PostgreSQL headroom: flushers per pod, then the PgBouncer pool, then worker pods.',
  {
    enabled: bool('Turn autoscaling on. Defaults to false: sizes are pinned to the spec.'),
    interval: duration('How often signals are gathered and a decision made. Defaults to 15s.', '15s'),
    minReplicas: int('Fewest worker pods. Defaults to replicas.', { minimum: 1, maximum: 1000 }),
    maxReplicas: int('Most worker pods. Defaults to replicas.', { minimum: 1, maximum: 1000 }),
    minPoolSize: int('Smallest PgBouncer pool. Defaults to pgbouncer.poolSize.', { minimum: 1, maximum: 1000 }),
    maxPoolSize: int('Largest PgBouncer pool. Defaults to pgbouncer.poolSize.', { minimum: 1, maximum: 1000 }),
    targetOldestUnflushedAge: duration(
      'Scale up while the oldest unflushed message is older than this. Defaults to 10s.',
      '10s',
    ),
    targetCommitLatency: duration('Hold while PostgreSQL commit latency is above this. Defaults to 250ms.', '250ms'),
    scaleUpCooldown: duration('Least time between two scale-up steps. Defaults to 30s.', '30s'),
    scaleDownCooldown: duration('Least time between two scale-down steps. Defaults to 2m.', '2m'),
    postgresMonitoring: obj(
      'Direct PostgreSQL connection (not through PgBouncer) used to read headroom: connections, latency, lock waits. Host, port and database default to sink.postgres.',
      {
        host: str('Host. Defaults to sink.postgres.host.', { maxLength: 253 }),
        port: int('Port. Defaults to sink.postgres.port.', { minimum: 1, maximum: 65535 }),
        database: str('Database. Defaults to sink.postgres.database.', { maxLength: 63 }),
        credentialsSecretRef: basicAuthRef('monitoring (pg_monitor role)'),
      },
      { required: ['credentialsSecretRef'] },
    ),
  },
  {
    'x-kubernetes-validations': [
      {
        rule: '!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas',
        message: 'autoscaling.minReplicas must not exceed autoscaling.maxReplicas',
      },
      {
        rule: '!has(self.minPoolSize) || !has(self.maxPoolSize) || self.minPoolSize <= self.maxPoolSize',
        message: 'autoscaling.minPoolSize must not exceed autoscaling.maxPoolSize',
      },
    ],
  },
);

const stringMap = (description: string): Schema => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string' },
});

const podSchema: Schema = obj('Scheduling and metadata for worker pods.', {
  annotations: stringMap('Extra pod annotations.'),
  labels: stringMap('Extra pod labels.'),
  nodeSelector: stringMap('Node selector.'),
  tolerations: arr('Tolerations (as in a PodSpec).', passthrough('A toleration.')),
  affinity: passthrough('Affinity (as in a PodSpec).'),
  priorityClassName: str('PriorityClass of worker pods.', { pattern: K8S_NAME_PATTERN, maxLength: 253 }),
});

const networkPolicySchema: Schema = obj(
  'NetworkPolicies the operator renders for the pipeline: PgBouncer takes connections only from the pipeline’s workers and the operator; the workers’ metrics and health ports only from the operator and metricsFrom. Egress is not restricted.',
  {
    enabled: bool('Render the NetworkPolicies (needs a network plugin that enforces them). Defaults to true.'),
    metricsFrom: arr(
      'Who may scrape the worker metrics besides the operator, as NetworkPolicy peers; the default is podSelector app.kubernetes.io/name=prometheus with namespaceSelector {}, the label the Prometheus Operator gives its pods. Defaults to Prometheus pods in any namespace.',
      obj('A NetworkPolicy peer.', {
        namespaceSelector: passthrough('A label selector for namespaces.'),
        podSelector: passthrough('A label selector for pods.'),
      }),
      { maxItems: 16 },
    ),
  },
);

export const specSchema: Schema = obj(
  'Desired state of the pipeline: an MQTT shared subscription ingested into PostgreSQL.',
  {
    source: sourceSchema,
    sink: sinkSchema,
    wal: walSchema,
    flusher: flusherSchema,
    limits: limitsSchema,
    routes: routesSchema,
    deadLetter: deadLetterSchema,
    autoscaling: autoscalingSchema,
    replicas: int('Worker pods (the autoscaler moves it within autoscaling bounds). Defaults to 1.', {
      minimum: 0,
      maximum: 1000,
    }),
    image: image('the worker', 'the image the operator runs'),
    imagePullPolicy: str('Image pull policy of worker pods. Defaults to IfNotPresent.', {
      enum: ['Always', 'IfNotPresent', 'Never'],
    }),
    imagePullSecrets: arr(
      'Pull secrets for the worker and PgBouncer images.',
      obj('A Secret reference.', { name: secretName() }, { required: ['name'] }),
      { maxItems: 16 },
    ),
    resources: resources('each worker container'),
    pod: podSchema,
    terminationGracePeriodSeconds: int(
      'Time a worker gets on shutdown to drain its WAL into PostgreSQL. Ephemeral workers with a deadLetter bucket get the time to spill a full WAL on top (5 s plus 1 s per 16 MiB of wal.sizeLimit). Defaults to 60.',
      { minimum: 10, maximum: 3600 },
    ),
    logLevel: str('Worker log level. Defaults to info.', { enum: ['trace', 'debug', 'info', 'warn', 'error'] }),
    networkPolicy: networkPolicySchema,
  },
  { required: ['source', 'sink'] },
);

export const ingestPipelineSchema: Schema = obj(
  'IngestPipeline runs MQTT → PostgreSQL ingest workers: a shared subscription, a durable WAL, COPY flushers through PgBouncer and an S3 dead-letter queue.',
  {
    apiVersion: str('mqtt2pg.io/v1alpha1', {}),
    kind: str('IngestPipeline', {}),
    metadata: { type: 'object' },
    spec: specSchema,
    status: statusSchema,
  },
  {
    required: ['spec'],
    'x-kubernetes-validations': [
      {
        rule: PIPELINE_NAME_RULE,
        message:
          "metadata.name must be at most 45 characters of lower-case letters, digits and '-', starting with a letter: the operator derives Service and pod names from it",
      },
    ],
  },
);

export { BYTES_PATTERN, DURATION_PATTERN };
