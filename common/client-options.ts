// A pipeline's client options, built in one place from the resolved pipeline and its Secrets: MQTT (the
// worker's receiver), PostgreSQL (flushers, the startup check, `mqtt2pg migrate`, the autoscaler's
// monitoring connections) and S3 (the dead-letter store). Pure given the secret reader: what a pod, a laptop
// and a test read through SecretsDir, the same options come out.

import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { ClientConfig } from 'pg';
import type { ResolvedPipeline } from '../api/defaults.ts';
import type { SecretKeyReference } from '../api/secret-refs.ts';
import { type PgTls, pgSsl } from './pg-tls.ts';

/** Reads one Secret key (SecretsDir does, from the mounted directory); throws naming the field to fix. */
export interface SecretReader {
  read(ref: SecretKeyReference): string;
  readBytes(ref: SecretKeyReference): Buffer;
}

export interface MqttClientOptions {
  brokers: string[];
  clientId: string;
  subscription: string;
  /** Every filter to subscribe to, one per route (in one SUBSCRIBE); without it, `subscription`. */
  subscriptions?: string[];
  qos: 0 | 1;
  protocolVersion: 4 | 5;
  keepaliveSeconds: number;
  sessionExpirySeconds: number;
  receiveMaximum: number;
  /** MQTT 5 Maximum Packet Size (spec.limits.maxPacketSize): the broker sends nothing larger. */
  maximumPacketSize: number;
  connectTimeoutMs: number;
  /** The client id never comes back (see ENV.identity): leave the subscription and end the session on stop. */
  endSessionOnStop?: boolean;
  username?: string;
  password?: string;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string; rejectUnauthorized: boolean };
}

/** The receiver's broker connection; `instance` (the pod name) makes the client id unique per worker. */
export function mqttClientOptions(p: ResolvedPipeline, secrets: SecretReader, instance: string): MqttClientOptions {
  const s = p.source;
  const out: MqttClientOptions = {
    brokers: s.brokers,
    clientId: `${s.clientIdPrefix}-${instance}`.slice(0, 128),
    subscription: s.subscription,
    subscriptions: p.routes.map((r) => r.subscription),
    qos: s.qos,
    protocolVersion: s.protocolVersion,
    keepaliveSeconds: s.keepaliveSeconds,
    sessionExpirySeconds: s.sessionExpirySeconds,
    receiveMaximum: s.receiveMaximum,
    maximumPacketSize: p.limits.maxPacketSizeBytes,
    connectTimeoutMs: s.connectTimeoutMs,
  };
  if (s.auth) {
    const field = 'spec.source.auth.secretRef';
    out.username = secrets.read({ field, secret: s.auth.name, key: s.auth.usernameKey });
    out.password = secrets.read({ field, secret: s.auth.name, key: s.auth.passwordKey });
  }
  if (s.tls) {
    const { ca, clientCert, serverName } = s.tls;
    const certField = 'spec.source.tls.clientCertSecretRef';
    out.tls = {
      ...(ca ? { ca: secrets.readBytes({ field: 'spec.source.tls.caSecretRef', secret: ca.name, key: ca.key }) } : {}),
      ...(clientCert
        ? {
            cert: secrets.readBytes({ field: certField, secret: clientCert.name, key: clientCert.certKey }),
            key: secrets.readBytes({ field: certField, secret: clientCert.name, key: clientCert.keyKey }),
          }
        : {}),
      ...(serverName ? { servername: serverName } : {}),
      rejectUnauthorized: !s.tls.insecureSkipVerify,
    };
  }
  return out;
}

// A silent peer is noticed in seconds, not when the OS gives up (hours): connecting (TCP, TLS, startup and
// authentication) has 5 s; an idle connection is probed by TCP keepalive after 10 s. A write's own deadlines
// (the first answer, the whole transaction) are in worker/write-deadline.ts; docs/reliability.md lists them all.
export const PG_CONNECT_TIMEOUT_MS = 5_000;
export const PG_KEEPALIVE_IDLE_MS = 10_000;
/** The dead-letter PUT: connecting has 5 s, the whole request 30 s (an object is one batch's rejected rows). */
export const S3_CONNECT_TIMEOUT_MS = 5_000;
export const S3_REQUEST_TIMEOUT_MS = 30_000;

/**
 * A connection to the pipeline's database (directly or through PgBouncer). `role` names the connection in
 * pg_stat_activity: flusher, startup, migrate, partitions. The DDL connections (migrate, partitions) log in as
 * the migration role when the pipeline has one (sink.postgres.migrationCredentialsSecretRef): the one seam every DDL connection (migrations,
 * partition maintenance) goes through. The statement timeout is not here: the sink sets it per transaction
 * (SET LOCAL), as PgBouncer in transaction pooling refuses it as a startup parameter.
 */
/** Connections that run DDL: the migrations, and partition maintenance (creates and drops partitions). */
const DDL_ROLES = new Set(['migrate', 'partitions']);

export function pgClientConfig(p: ResolvedPipeline, secrets: SecretReader, role = 'flusher'): ClientConfig {
  const pg = p.sink.postgres;
  const migration = DDL_ROLES.has(role) ? pg.migrationCredentials : undefined;
  const field = migration
    ? 'spec.sink.postgres.migrationCredentialsSecretRef'
    : 'spec.sink.postgres.credentialsSecretRef';
  const creds = migration ?? pg.credentials;
  const user = secrets.read({ field, secret: creds.name, key: creds.usernameKey });
  const password = secrets.read({ field, secret: creds.name, key: creds.passwordKey });
  const ca = pg.ca
    ? secrets.read({ field: 'spec.sink.postgres.caSecretRef', secret: pg.ca.name, key: pg.ca.key })
    : undefined;
  return {
    host: pg.host,
    port: pg.port,
    database: pg.database,
    user,
    password,
    ssl: pgSsl(pg.sslMode, ca),
    // PostgreSQL truncates application_name to 63 bytes; cut it here so what we set is what it shows.
    application_name: `${pg.applicationName}:${p.name}:${role}`.slice(0, 63),
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: PG_KEEPALIVE_IDLE_MS,
  };
}

/** Where and as whom the operator's autoscaler reads PostgreSQL, or a PgBouncer's admin console. */
export interface PgTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** false: plaintext. */
  ssl: false | PgTls;
}

// The autoscaler reads every interval and must not hang on a dead server: an unreachable source is reported
// as missing for this interval instead.
const MONITORING_CONNECT_TIMEOUT_MS = 3_000;
const MONITORING_QUERY_TIMEOUT_MS = 5_000;

/** A monitoring connection of the autoscaler (read-only queries; TLS verified as the target's mode says). */
export function pgMonitoringConfig(t: PgTarget, applicationName: string): ClientConfig {
  return {
    host: t.host,
    port: t.port,
    database: t.database,
    user: t.user,
    password: t.password,
    ssl: t.ssl ? pgSsl(t.ssl.mode, t.ssl.ca, t.ssl.servername) : false,
    application_name: applicationName,
    connectionTimeoutMillis: MONITORING_CONNECT_TIMEOUT_MS,
    query_timeout: MONITORING_QUERY_TIMEOUT_MS,
  };
}

/** The bucket's S3 client (dead letters and spills); throws when the pipeline has no dead-letter bucket. */
export function s3ClientConfig(p: ResolvedPipeline, secrets: SecretReader): S3ClientConfig {
  const d = p.deadLetter;
  if (!d) throw new Error('no dead-letter bucket configured');
  const field = 'spec.deadLetter.s3.credentialsSecretRef';
  const credentials = d.credentials
    ? {
        accessKeyId: secrets.read({ field, secret: d.credentials.name, key: d.credentials.accessKeyIdKey }),
        secretAccessKey: secrets.read({ field, secret: d.credentials.name, key: d.credentials.secretAccessKeyKey }),
      }
    : undefined;
  return {
    region: d.region,
    forcePathStyle: d.forcePathStyle,
    ...(d.endpoint ? { endpoint: d.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    // The worker retries forever with its own backoff; the SDK's retries would only hide the outage.
    maxAttempts: 1,
    // Without these the SDK waits on a silent endpoint as long as the OS does.
    requestHandler: {
      connectionTimeout: S3_CONNECT_TIMEOUT_MS,
      requestTimeout: S3_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
      // An https endpoint signed by a private CA: that CA, instead of the system's (verification stays on).
      ...(d.ca
        ? {
            httpsAgent: {
              ca: secrets.readBytes({ field: 'spec.deadLetter.s3.caSecretRef', secret: d.ca.name, key: d.ca.key }),
            },
          }
        : {}),
    },
  };
}
