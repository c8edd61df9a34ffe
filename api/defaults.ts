// Defaults, applied in code so the stored object stays exactly what the user wrote (GitOps: a schema
// default would show as drift in Argo CD). Every default is documented in the field's description.

import { defaultRouteSpec, type ResolvedRoute, resolveRoute } from './routes.ts';
import { clamp } from './sizes.ts';
import type {
  BasicAuthSecretRef,
  IngestPipeline,
  LimitsSpec,
  NetworkPolicyPeerSpec,
  S3CredentialsSecretRef,
  SecretKeyRef,
} from './types.ts';
import { parseBytes, parseDurationMs } from './units.ts';

/**
 * The WAL volume when wal.storage.size is absent. Besides the records (at most sizeLimit), LevelDB keeps its
 * own log of the current memtable (4 MiB, two while one is flushed), the MANIFEST, and during a compaction
 * the new table files next to the inputs they replace (one compaction reads at most 25 files of 2 MiB).
 * Half the limit again covers that for large limits; the 64 MiB floor covers it for small ones.
 */
export const WAL_VOLUME_FLOOR_BYTES = 64 * 2 ** 20;
export const defaultWalVolumeBytes = (sizeLimitBytes: number): number =>
  Math.max(Math.ceil(sizeLimitBytes * 1.5), sizeLimitBytes + WAL_VOLUME_FLOOR_BYTES);

export interface ResolvedBasicAuthRef {
  name: string;
  usernameKey: string;
  passwordKey: string;
}

export interface ResolvedSecretKeyRef {
  name: string;
  key: string;
}

export interface ResolvedPipeline {
  name: string;
  namespace: string;
  source: {
    brokers: string[];
    topicFilter: string;
    sharedGroup: string;
    /** The filter the workers subscribe to: $share/<group>/<filter>. */
    subscription: string;
    qos: 0 | 1;
    protocolVersion: 4 | 5;
    clientIdPrefix: string;
    keepaliveSeconds: number;
    sessionExpirySeconds: number;
    receiveMaximum: number;
    connectTimeoutMs: number;
    auth?: ResolvedBasicAuthRef;
    tls?: {
      ca?: ResolvedSecretKeyRef;
      clientCert?: { name: string; certKey: string; keyKey: string };
      serverName?: string;
      insecureSkipVerify: boolean;
    };
  };
  sink: {
    postgres: {
      host: string;
      port: number;
      database: string;
      credentials: ResolvedBasicAuthRef;
      sslMode: 'disable' | 'require' | 'verify-ca' | 'verify-full';
      ca?: ResolvedSecretKeyRef;
      applicationName: string;
      statementTimeoutMs: number;
    };
    schema: string;
    table: string;
    unparseableTable: string;
    payloadFormat: 'json' | 'binary';
    pgbouncer: {
      enabled: boolean;
      image?: string;
      replicas: number;
      poolSize: number;
      maxClientConn: number;
    };
  };
  /** spec.routes, or the one built-in device route (api/routes.ts). */
  routes: ResolvedRoute[];
  wal: {
    sizeLimitBytes: number;
    retentionMs: number;
    storage: { type: 'Ephemeral' | 'Persistent'; sizeBytes: number; storageClassName?: string };
  };
  flusher: {
    batchSize: number;
    batchBytes: number;
    flushIntervalMs: number;
    flushers: number;
    minFlushers: number;
    maxFlushers: number;
    initialBackoffMs: number;
    maxBackoffMs: number;
  };
  limits: {
    maxPayloadSizeBytes: number;
    /** Advertised as Maximum Packet Size in the MQTT 5 CONNECT. */
    maxPacketSizeBytes: number;
    maxJsonDepth: number;
  };
  deadLetter?: {
    bucket: string;
    prefix: string;
    endpoint?: string;
    region: string;
    forcePathStyle: boolean;
    credentials?: { name: string; accessKeyIdKey: string; secretAccessKeyKey: string };
  };
  autoscaling: {
    enabled: boolean;
    intervalMs: number;
    minReplicas: number;
    maxReplicas: number;
    minPoolSize: number;
    maxPoolSize: number;
    targetOldestUnflushedAgeMs: number;
    targetCommitLatencyMs: number;
    scaleUpCooldownMs: number;
    scaleDownCooldownMs: number;
    postgresMonitoring?: { host: string; port: number; database: string; credentials: ResolvedBasicAuthRef };
  };
  replicas: number;
  terminationGracePeriodSeconds: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  networkPolicy: { enabled: boolean; metricsFrom: NetworkPolicyPeerSpec[] };
}

/** Who scrapes worker metrics by default: Prometheus pods as the Prometheus Operator labels them, anywhere. */
export const DEFAULT_METRICS_FROM: NetworkPolicyPeerSpec[] = [
  { namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } },
];

export const DEFAULT_TOPIC_FILTER = 't/+/d/+/evt/#';
/** Applied where they are used (the worker pod, the autoscaler's loop), not on the resolved pipeline. */
export const DEFAULT_IMAGE_PULL_POLICY = 'IfNotPresent';
export const DEFAULT_AUTOSCALING_INTERVAL = '15s';

const basicAuth = (ref: BasicAuthSecretRef): ResolvedBasicAuthRef => ({
  name: ref.name,
  usernameKey: ref.usernameKey ?? 'username',
  passwordKey: ref.passwordKey ?? 'password',
});

const keyRef = (ref: SecretKeyRef | undefined, key: string): ResolvedSecretKeyRef | undefined =>
  ref ? { name: ref.name, key: ref.key ?? key } : undefined;

const s3Credentials = (ref: S3CredentialsSecretRef | undefined) =>
  ref
    ? {
        name: ref.name,
        accessKeyIdKey: ref.accessKeyIdKey ?? 'accessKeyId',
        secretAccessKeyKey: ref.secretAccessKeyKey ?? 'secretAccessKey',
      }
    : undefined;

const resolveLimits = (l: LimitsSpec): ResolvedPipeline['limits'] => {
  const maxPayloadSizeBytes = parseBytes(l.maxPayloadSize ?? '256Ki');
  return {
    maxPayloadSizeBytes,
    maxPacketSizeBytes: l.maxPacketSize ? parseBytes(l.maxPacketSize) : 4 * maxPayloadSizeBytes,
    maxJsonDepth: l.maxJsonDepth ?? 64,
  };
};

/** A shared-subscription group name derived from the pipeline name (which may hold dots). */
const groupFromName = (name: string) => name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);

/** Applies every default. Expects an object the schema has already accepted. */
export function resolvePipeline(p: IngestPipeline): ResolvedPipeline {
  const { source, sink } = p.spec;
  const wal = p.spec.wal ?? {};
  const flusher = p.spec.flusher ?? {};
  const auto = p.spec.autoscaling ?? {};
  const replicas = p.spec.replicas ?? 1;
  const poolSize = sink.pgbouncer?.poolSize ?? 10;
  const sizeLimitBytes = parseBytes(wal.sizeLimit ?? '1Gi');
  const topicFilter = source.topicFilter ?? DEFAULT_TOPIC_FILTER;
  const sharedGroup = source.sharedGroup ?? groupFromName(p.metadata.name);
  const tlsWanted =
    source.tls?.enabled === true ||
    source.brokers.some((b) => /^(mqtts|ssl|tls):/.test(b)) ||
    source.tls?.caSecretRef !== undefined ||
    source.tls?.clientCertSecretRef !== undefined;
  const minFlushers = flusher.minFlushers ?? 1;
  const maxFlushers = flusher.maxFlushers ?? Math.max(8, minFlushers);
  const pg = sink.postgres;
  const s3 = p.spec.deadLetter?.s3;
  const monitoring = auto.postgresMonitoring;

  return {
    name: p.metadata.name,
    namespace: p.metadata.namespace ?? 'default',
    source: {
      brokers: source.brokers,
      topicFilter,
      sharedGroup,
      subscription: `$share/${sharedGroup}/${topicFilter}`,
      qos: source.qos ?? 1,
      protocolVersion: source.protocolVersion ?? 5,
      clientIdPrefix: source.clientIdPrefix ?? 'mqtt2pg',
      keepaliveSeconds: Math.ceil(parseDurationMs(source.keepalive ?? '30s') / 1000),
      sessionExpirySeconds: Math.ceil(parseDurationMs(source.sessionExpiry ?? '1h') / 1000),
      receiveMaximum: source.receiveMaximum ?? 2000,
      connectTimeoutMs: parseDurationMs(source.connectTimeout ?? '30s'),
      ...(source.auth ? { auth: basicAuth(source.auth.secretRef) } : {}),
      ...(tlsWanted
        ? {
            tls: {
              ...(source.tls?.caSecretRef ? { ca: keyRef(source.tls.caSecretRef, 'ca.crt') } : {}),
              ...(source.tls?.clientCertSecretRef
                ? {
                    clientCert: {
                      name: source.tls.clientCertSecretRef.name,
                      certKey: source.tls.clientCertSecretRef.certKey ?? 'tls.crt',
                      keyKey: source.tls.clientCertSecretRef.keyKey ?? 'tls.key',
                    },
                  }
                : {}),
              ...(source.tls?.serverName ? { serverName: source.tls.serverName } : {}),
              insecureSkipVerify: source.tls?.insecureSkipVerify ?? false,
            },
          }
        : {}),
    },
    sink: {
      postgres: {
        host: pg.host,
        port: pg.port ?? 5432,
        database: pg.database,
        credentials: basicAuth(pg.credentialsSecretRef),
        sslMode: pg.sslMode ?? 'disable',
        ...(pg.caSecretRef ? { ca: keyRef(pg.caSecretRef, 'ca.crt') } : {}),
        applicationName: pg.applicationName ?? 'mqtt2pg',
        statementTimeoutMs: parseDurationMs(pg.statementTimeout ?? '60s'),
      },
      schema: sink.schema ?? 'public',
      table: sink.table ?? 'telemetry',
      unparseableTable: sink.unparseableTable ?? 'telemetry_unparseable',
      payloadFormat: sink.payloadFormat ?? 'json',
      pgbouncer: {
        enabled: sink.pgbouncer?.enabled ?? true,
        ...(sink.pgbouncer?.image ? { image: sink.pgbouncer.image } : {}),
        replicas: sink.pgbouncer?.replicas ?? 1,
        poolSize,
        maxClientConn: sink.pgbouncer?.maxClientConn ?? 1000,
      },
    },
    routes: p.spec.routes
      ? p.spec.routes.map((r) => resolveRoute(r, sharedGroup))
      : [
          resolveRoute(
            defaultRouteSpec(topicFilter, sink.table ?? 'telemetry', sink.payloadFormat ?? 'json'),
            sharedGroup,
            true,
          ),
        ],
    wal: {
      sizeLimitBytes,
      retentionMs: parseDurationMs(wal.retention ?? '168h'),
      storage: {
        type: wal.storage?.type ?? 'Persistent',
        sizeBytes: wal.storage?.size ? parseBytes(wal.storage.size) : defaultWalVolumeBytes(sizeLimitBytes),
        ...(wal.storage?.storageClassName ? { storageClassName: wal.storage.storageClassName } : {}),
      },
    },
    flusher: {
      batchSize: flusher.batchSize ?? 5000,
      batchBytes: parseBytes(flusher.batchBytes ?? '8Mi'),
      flushIntervalMs: parseDurationMs(flusher.flushInterval ?? '100ms'),
      flushers: flusher.flushers ?? clamp(2, { min: minFlushers, max: maxFlushers }),
      minFlushers,
      maxFlushers,
      initialBackoffMs: parseDurationMs(flusher.retry?.initialBackoff ?? '100ms'),
      maxBackoffMs: parseDurationMs(flusher.retry?.maxBackoff ?? '30s'),
    },
    limits: resolveLimits(p.spec.limits ?? {}),
    ...(s3
      ? {
          deadLetter: {
            bucket: s3.bucket,
            prefix: s3.prefix ?? 'mqtt2pg/',
            ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
            region: s3.region ?? 'us-east-1',
            forcePathStyle: s3.forcePathStyle ?? false,
            ...(s3.credentialsSecretRef ? { credentials: s3Credentials(s3.credentialsSecretRef) } : {}),
          },
        }
      : {}),
    autoscaling: {
      enabled: auto.enabled ?? false,
      intervalMs: parseDurationMs(auto.interval ?? DEFAULT_AUTOSCALING_INTERVAL),
      minReplicas: auto.minReplicas ?? Math.max(1, Math.min(replicas, auto.maxReplicas ?? replicas)),
      maxReplicas: auto.maxReplicas ?? Math.max(1, replicas, auto.minReplicas ?? 1),
      minPoolSize: auto.minPoolSize ?? Math.min(poolSize, auto.maxPoolSize ?? poolSize),
      maxPoolSize: auto.maxPoolSize ?? Math.max(poolSize, auto.minPoolSize ?? 1),
      targetOldestUnflushedAgeMs: parseDurationMs(auto.targetOldestUnflushedAge ?? '10s'),
      targetCommitLatencyMs: parseDurationMs(auto.targetCommitLatency ?? '250ms'),
      scaleUpCooldownMs: parseDurationMs(auto.scaleUpCooldown ?? '30s'),
      scaleDownCooldownMs: parseDurationMs(auto.scaleDownCooldown ?? '2m'),
      ...(monitoring
        ? {
            postgresMonitoring: {
              host: monitoring.host ?? pg.host,
              port: monitoring.port ?? pg.port ?? 5432,
              database: monitoring.database ?? pg.database,
              credentials: basicAuth(monitoring.credentialsSecretRef),
            },
          }
        : {}),
    },
    replicas,
    terminationGracePeriodSeconds: p.spec.terminationGracePeriodSeconds ?? 60,
    logLevel: p.spec.logLevel ?? 'info',
    networkPolicy: {
      enabled: p.spec.networkPolicy?.enabled ?? true,
      metricsFrom: p.spec.networkPolicy?.metricsFrom ?? DEFAULT_METRICS_FROM,
    },
  };
}
