// The status part of the IngestPipeline schema (written only by the operator) and the columns
// `kubectl get ingestpipelines` prints from it.

import { arr, int, num, obj, passthrough, type Schema, str } from './schema-builders.ts';

const conditionSchema: Schema = obj(
  'A metav1.Condition.',
  {
    type: str('Condition type: Ready, Progressing or Degraded.', { maxLength: 316 }),
    status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
    observedGeneration: int('Generation the condition was computed for.', { minimum: 0 }),
    lastTransitionTime: str('When the status last changed.', { format: 'date-time' }),
    reason: str('CamelCase reason.', {
      maxLength: 1024,
      minLength: 1,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: str('Human-readable detail: what is wrong and how to fix it.', { maxLength: 32768 }),
  },
  { required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'] },
);

const scaleTriple = (description: string): Schema =>
  obj(description, {
    flushers: int('Flushers per worker pod.'),
    poolSize: int('PgBouncer pool size.'),
    replicas: int('Worker pods.'),
  });

const walDrainSchema: Schema = obj(
  'A WAL volume of a worker ordinal that no longer runs (scaled down, or the pipeline deleted), being drained.',
  {
    claim: str('The PersistentVolumeClaim, wal-<pipeline>-worker-<ordinal>.'),
    ordinal: int('The worker ordinal the volume belonged to.', { minimum: 0 }),
    job: str('The drain Job running mqtt2pg drain on the volume, while one exists.'),
    messagesLeft: int(
      'Acknowledged messages still in the WAL, as the last finished drain attempt reported them; absent until one has.',
      { minimum: 0 },
    ),
    failedAttempts: int('Drain attempts that ended without emptying the WAL.', { minimum: 0 }),
    message: str('What the drain waits for, or why its last attempt stopped short.', { maxLength: 4096 }),
  },
  { required: ['claim', 'ordinal'] },
);

export const statusSchema: Schema = obj('Observed state, written by the operator.', {
  observedGeneration: int('The spec generation this status describes.', { minimum: 0 }),
  conditions: arr(
    'Ready, Progressing and Degraded; BrokerConnected, DatabaseWritable, DeadLetterStoreAvailable, Backpressure and Paused (docs/conditions.md).',
    conditionSchema,
    {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    },
  ),
  replicas: int('Worker pods desired (spec.replicas, or the autoscaler size).'),
  readyReplicas: int('Worker pods ready: connected to the broker with a healthy last write.'),
  selector: str('Label selector of the worker pods (the scale subresource reports it to kubectl scale and HPAs).'),
  flushers: int('Flushers (PostgreSQL connections) per worker pod now.'),
  poolSize: int('PgBouncer pool size (default_pool_size) now.'),
  ingestRate: num(
    'Messages per second received, summed over worker pods, from their metrics. Written by the autoscaler (autoscaling.enabled) when it decides and at least once a minute.',
  ),
  backlog: int(
    'Messages acknowledged to the broker but not yet committed to PostgreSQL, summed over worker pods (in their WALs). Written like ingestRate.',
  ),
  oldestUnflushedSeconds: num(
    'Age of the oldest acknowledged but uncommitted message, in seconds. Written like ingestRate.',
  ),
  walDrains: arr(
    'WAL volumes of removed worker ordinals that may still hold acknowledged messages: the operator drains each with a Job, then deletes the volume.',
    walDrainSchema,
    { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['claim'] },
  ),
  autoscaling: obj('The autoscaler last decision (autoscaling.enabled only).', {
    current: scaleTriple('Sizes in effect now.'),
    desired: scaleTriple('Sizes the last decision asked for.'),
    reason: str('Why the autoscaler decided so, with the numbers it used.'),
    lastChangeTime: str('When the sizes last changed.', { format: 'date-time' }),
    signals: passthrough('The signals the decision used: worker metrics, PostgreSQL and PgBouncer load.'),
  }),
});

export const printerColumns = [
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  { name: 'Replicas', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready worker pods' },
  { name: 'Flushers', type: 'integer', jsonPath: '.status.flushers', description: 'Flushers per worker pod' },
  { name: 'Rate', type: 'number', jsonPath: '.status.ingestRate', description: 'Messages per second received' },
  { name: 'Backlog', type: 'integer', jsonPath: '.status.backlog', description: 'Acknowledged, not yet committed' },
  {
    name: 'Paused',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Paused")].status',
    description: 'spec.paused in effect: no messages taken, the WAL drains (docs/conditions.md)',
  },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  { name: 'Desired', type: 'integer', jsonPath: '.status.replicas', priority: 1, description: 'Worker pods desired' },
  { name: 'Pool', type: 'integer', jsonPath: '.status.poolSize', priority: 1, description: 'PgBouncer pool size' },
  {
    name: 'Oldest',
    type: 'number',
    jsonPath: '.status.oldestUnflushedSeconds',
    priority: 1,
    description: 'Oldest uncommitted message, seconds',
  },
  ...(
    [
      ['Broker', 'BrokerConnected', 'Connected to the broker'],
      ['Database', 'DatabaseWritable', 'Writes to PostgreSQL succeed'],
      ['DeadLetters', 'DeadLetterStoreAvailable', 'The dead-letter store answers'],
      ['Backpressure', 'Backpressure', 'A WAL is full: reading from the broker stopped'],
    ] as const
  ).map(([name, type, description]) => ({
    name,
    type: 'string',
    jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
    priority: 1,
    description: `${description} (docs/conditions.md)`,
  })),
  { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1 },
  { name: 'Message', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].message', priority: 1 },
];
