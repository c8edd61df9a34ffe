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
  secretKey,
  secretKeyRef,
  secretName,
  str,
} from './schema-builders.ts';
import { limitsSchema } from './schema-limits.ts';
import { routesSchema } from './schema-routes.ts';
import { sinkSchema, sourceSchema } from './schema-source-sink.ts';
import { statusSchema } from './schema-status.ts';

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
      'The volume that holds each worker pod WAL: persistent or ephemeral, its size and StorageClass.',
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
    minFlushers: int('Fewest flushers per worker pod the autoscaler goes down to. Defaults to 1.', {
      minimum: 1,
      maximum: 64,
    }),
    maxFlushers: int('Most flushers per worker pod the autoscaler goes up to. Defaults to 8.', {
      minimum: 1,
      maximum: 64,
    }),
    retry: obj('Backoff for connection and server errors (retried forever; never dead-lettered).', {
      initialBackoff: duration(
        'Delay before the first retry; each next one doubles, up to maxBackoff. Defaults to 100ms.',
        '100ms',
      ),
      maxBackoff: duration('Longest delay between two retries. Defaults to 30s.', '30s'),
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
        bucket: str('Bucket name. It must exist: the worker writes to it but never creates it.', {
          pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
        }),
        prefix: str('Prefix of every object key (the pipeline name follows it). Defaults to "mqtt2pg/".', {
          maxLength: 512,
        }),
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
        region: str('Region of the bucket (S3-compatible stores mostly accept any). Defaults to "us-east-1".', {
          pattern: '^[a-z0-9-]{1,32}$',
        }),
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
        caSecretRef: secretKeyRef(
          "the CA bundle (PEM) that signs an https endpoint's certificate (the system CAs are trusted without it)",
          'ca.crt',
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
    interval: duration(
      'How often the operator reads the signals (worker metrics, PostgreSQL and PgBouncer load) and decides; each round also refreshes the Rate, Backlog and Oldest status columns. Defaults to 15s.',
      '15s',
    ),
    minReplicas: int('Fewest worker pods. Defaults to replicas.', { minimum: 1, maximum: 1000 }),
    maxReplicas: int('Most worker pods. Defaults to replicas.', { minimum: 1, maximum: 1000 }),
    minPoolSize: int('Smallest PgBouncer pool. Defaults to pgbouncer.poolSize.', { minimum: 1, maximum: 1000 }),
    maxPoolSize: int('Largest PgBouncer pool. Defaults to pgbouncer.poolSize.', { minimum: 1, maximum: 1000 }),
    targetOldestUnflushedAge: duration(
      'Add capacity (flushers, then PgBouncer pool, then worker pods) while the oldest unflushed message is older than this and PostgreSQL has headroom. Defaults to 10s.',
      '10s',
    ),
    targetCommitLatency: duration(
      'PostgreSQL counts as saturated while its commit latency is above this: the autoscaler adds no writers then (more would slow it further). Defaults to 250ms.',
      '250ms',
    ),
    scaleUpCooldown: duration(
      'Least time between two scale-up steps (so each step shows its effect first). Defaults to 30s.',
      '30s',
    ),
    scaleDownCooldown: duration(
      'Least time between two scale-down steps (longer than scale-up, so a lull does not undo them). Defaults to 2m.',
      '2m',
    ),
    postgresMonitoring: obj(
      'Direct PostgreSQL connection (not through PgBouncer) used to read headroom: connections, latency, lock waits. Host, port and database default to sink.postgres.',
      {
        host: str('Host of PostgreSQL itself, never a PgBouncer. Defaults to sink.postgres.host.', { maxLength: 253 }),
        port: int('Port of PostgreSQL itself. Defaults to sink.postgres.port.', { minimum: 1, maximum: 65535 }),
        database: str('Database to connect to for the statistics. Defaults to sink.postgres.database.', {
          maxLength: 63,
        }),
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
  annotations: stringMap('Annotations added to worker pods (the operator own annotations win on a clash).'),
  labels: stringMap('Labels added to worker pods (the operator own labels win on a clash).'),
  nodeSelector: stringMap('Node labels a worker pod requires (as in a PodSpec nodeSelector).'),
  tolerations: arr('Tolerations (as in a PodSpec).', passthrough('A toleration.')),
  affinity: passthrough('Affinity (as in a PodSpec).'),
  priorityClassName: str('PriorityClass of worker pods; unset, the cluster default priority applies.', {
    pattern: K8S_NAME_PATTERN,
    maxLength: 253,
  }),
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
    paused: bool(
      'Stop taking messages while keeping every object and each worker’s broker session: the workers stop reading from the broker (which holds new messages in their sessions), drain their WAL into PostgreSQL and wait; false resumes. Applied live, without restarting pods; the autoscaler holds meanwhile (docs/conditions.md, Paused). Defaults to false.',
    ),
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
    logLevel: str('Worker log level (JSON lines on stdout): trace, debug, info, warn or error. Defaults to info.', {
      enum: ['trace', 'debug', 'info', 'warn', 'error'],
    }),
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
