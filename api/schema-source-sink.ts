// spec.source and spec.sink: the two connections of a pipeline, the MQTT broker messages come from and the
// PostgreSQL (through PgBouncer) rows go to.

import {
  arr,
  basicAuthRef,
  bool,
  duration,
  image,
  int,
  obj,
  resources,
  type Schema,
  SQL_IDENTIFIER_PATTERN,
  secretKey,
  secretKeyRef,
  secretName,
  str,
  tlsCertificateRef,
} from './schema-builders.ts';
import { BROKER_URL_PATTERN } from './types.ts';

export const PGBOUNCER_TLS_RULE =
  "!has(self.pgbouncer) || !has(self.pgbouncer.clientTlsSecretRef) || (has(self.postgres.sslMode) && self.postgres.sslMode != 'disable')";

export const sourceSchema: Schema = obj(
  'Where messages come from: the MQTT broker and the shared subscription the workers join.',
  {
    brokers: arr(
      'Broker URLs; workers connect to the first that answers. Schemes mqtt:// and mqtts:// (TLS), e.g. "mqtt://mosquitto.iot:1883". Credentials never go in the URL: use auth.secretRef.',
      str('One broker URL, mqtt://host:port or mqtts://host:port.', {
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
    keepalive: duration(
      'MQTT keepalive: the worker pings the broker every half period and reconnects when the connection has been silent for two periods; the broker drops a worker silent for 1.5 periods. Defaults to 30s.',
      '30s',
    ),
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
        serverName: str(
          'Name the broker certificate must carry (and the SNI sent), when it differs from the URL host (unset: the URL host).',
          { maxLength: 253 },
        ),
        insecureSkipVerify: bool('Skip broker certificate verification. For testing only. Defaults to false.'),
      },
      {},
    ),
  },
  { required: ['brokers'] },
);

export const sinkSchema: Schema = obj(
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
        database: str(
          'Name of the database that holds the tables. It must exist: the worker creates only the schema and the tables.',
          { pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$' },
        ),
        credentialsSecretRef: basicAuthRef('PostgreSQL'),
        migrationCredentialsSecretRef: basicAuthRef(
          'migration role',
          "Optional: migrations (CREATE/ALTER of the schema and tables) run as this role instead, and grant credentialsSecretRef's role USAGE on the schema and INSERT on the tables, which is then all that role needs. Without it, credentialsSecretRef's role runs the migrations.",
        ),
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
      clientTlsSecretRef: tlsCertificateRef(
        'PgBouncer serves TLS to the workers with this certificate (client_tls_*) and refuses plaintext clients; the workers verify it as sink.postgres.sslMode says (verify-full: the certificate must name <pipeline>-pgbouncer.<namespace>.svc), trusting the CA in caKey. sslMode must not be disable. Without it, workers reach PgBouncer in plaintext inside the cluster.',
      ),
      image: image('PgBouncer', 'the operator default PgBouncer image'),
      replicas: int('PgBouncer pods (a Deployment behind one Service). Defaults to 1.', { minimum: 1, maximum: 20 }),
      poolSize: int(
        'Server connections per database/user pair (default_pool_size). The autoscaler moves it within autoscaling.minPoolSize..maxPoolSize. Defaults to 10.',
        { minimum: 1, maximum: 1000 },
      ),
      maxClientConn: int('Client connections PgBouncer accepts. Defaults to 1000.', { minimum: 1, maximum: 100000 }),
      resources: resources('the PgBouncer container'),
    }),
  },
  {
    required: ['postgres'],
    'x-kubernetes-validations': [
      {
        rule: PGBOUNCER_TLS_RULE,
        message:
          'sink.pgbouncer.clientTlsSecretRef needs sink.postgres.sslMode require, verify-ca or verify-full: the workers connect to PgBouncer with that mode',
      },
    ],
  },
);
