// The pipeline's PgBouncer: transaction pooling in front of PostgreSQL, so many flushers across many pods
// share a bounded number of server connections. Its auth file is derived from the PostgreSQL credentials
// Secret the pipeline references (the same user name and password work through PgBouncer), plus the
// operator's own admin/stats user (pgbouncer-admin.ts), the only user its admin console lets in.

import type { V1Container, V1PodSpec, V1Volume } from '@kubernetes/client-node';
import type { ResolvedPipeline } from '../../api/defaults.ts';
import type { IngestPipeline } from '../../api/types.ts';
import { PGBOUNCER_PORT } from './config.ts';
import { CONFIG_HASH_ANNOTATION, names, objectMeta, selectorLabels, stableHash, labels as stdLabels } from './meta.ts';
import { adminIniLines, PGBOUNCER_ADMIN_USER, renderAdminSecret } from './pgbouncer-admin.ts';
import { clientTlsIniLines, clientTlsVolume } from './pgbouncer-tls.ts';

export const PGBOUNCER_CONFIG_DIR = '/etc/pgbouncer';
export const PGBOUNCER_AUTH_DIR = '/etc/pgbouncer-auth';
export const PGBOUNCER_CA_DIR = '/etc/pgbouncer-server-ca';
export const PGBOUNCER_UID = 65532;

export const DEFAULT_PGBOUNCER_RESOURCES = {
  requests: { cpu: '50m', memory: '32Mi' },
  limits: { memory: '256Mi' },
};

export interface PgBouncerCredentials {
  username: string;
  password: string;
}

export interface PgBouncerInput {
  image: string;
  /** default_pool_size now: the spec's, or the autoscaler's. */
  poolSize: number;
  /** Read from the referenced Secret; absent when rendering offline (`mqtt2pg render` without --secrets-dir). */
  credentials?: PgBouncerCredentials;
  /** The migration role's (sink.postgres.migrationCredentialsSecretRef), which migrates through PgBouncer too. */
  migrationCredentials?: PgBouncerCredentials;
  /** The admin user's generated password (operator/pgbouncer-admin.ts); absent offline. */
  adminPassword?: string;
  /** Versions of the credentials and CA Secrets (null offline): a rotation rolls PgBouncer, revealing nothing. */
  secretVersions: Array<[string, string]> | null;
}

/** A userlist.txt line: both fields double-quoted, a quote inside doubled (PgBouncer's own escaping). */
export const userlistLine = (c: PgBouncerCredentials) =>
  `"${c.username.replace(/"/g, '""')}" "${c.password.replace(/"/g, '""')}"\n`;

export function pgbouncerIni(r: ResolvedPipeline, poolSize: number): string {
  const pg = r.sink.postgres;
  const lines = [
    '; Rendered by mqtt2pg-operator; edits are reverted.',
    '[databases]',
    `${pg.database} = host=${pg.host} port=${pg.port} dbname=${pg.database}`,
    '',
    '[pgbouncer]',
    'listen_addr = *',
    `listen_port = ${PGBOUNCER_PORT}`,
    // No unix socket: the root filesystem is read-only and nothing in the pod would use it.
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${PGBOUNCER_AUTH_DIR}/userlist.txt`,
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    `max_client_conn = ${r.sink.pgbouncer.maxClientConn}`,
    'ignore_startup_parameters = extra_float_digits,options',
    `server_tls_sslmode = ${pg.sslMode}`,
    ...(pg.ca ? [`server_tls_ca_file = ${PGBOUNCER_CA_DIR}/${pg.ca.key}`] : []),
    ...clientTlsIniLines(r),
    // A PostgreSQL restart should cost seconds, not the default 15 s per pool.
    'server_login_retry = 2',
    'log_connections = 0',
    'log_disconnections = 0',
    // The autoscaler's own user, never the pipeline's: it reads SHOW POOLS (cl_waiting) and applies a new pool
    // size (SET default_pool_size); a worker must not be able to SHUTDOWN or reconfigure PgBouncer.
    ...adminIniLines(),
    '',
  ];
  return lines.join('\n');
}

function authData(
  c: PgBouncerCredentials | undefined,
  adminPassword: string | undefined,
  migration?: PgBouncerCredentials,
): Record<string, string> {
  if (!c) return { 'userlist.txt': '; rendered offline: the operator fills this from the credentials Secret\n' };
  // Offline (`mqtt2pg render --secrets-dir`) there is no generated admin password yet: the pipeline's line only.
  const admin = adminPassword ? userlistLine({ username: PGBOUNCER_ADMIN_USER, password: adminPassword }) : '';
  return { 'userlist.txt': userlistLine(c) + (migration ? userlistLine(migration) : '') + admin };
}

export function renderPgBouncer(p: IngestPipeline, r: ResolvedPipeline, input: PgBouncerInput) {
  const n = names(r.name);
  const ini = pgbouncerIni(r, input.poolSize);
  const auth = authData(input.credentials, input.adminPassword, input.migrationCredentials);
  const clientTls = clientTlsVolume(r);
  const selector = selectorLabels(r.name, 'pgbouncer');
  const volumes: V1Volume[] = [
    { name: 'config', configMap: { name: n.pgbouncerConfig } },
    { name: 'auth', secret: { secretName: n.pgbouncerAuth, defaultMode: 0o440 } },
    { name: 'tmp', emptyDir: { sizeLimit: '16Mi' } },
    ...(r.sink.postgres.ca
      ? [{ name: 'server-ca', secret: { secretName: r.sink.postgres.ca.name, defaultMode: 0o440 } }]
      : []),
    ...clientTls.volumes,
  ];
  const container: V1Container = {
    name: 'pgbouncer',
    image: input.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['pgbouncer', `${PGBOUNCER_CONFIG_DIR}/pgbouncer.ini`],
    ports: [{ name: 'pgbouncer', containerPort: PGBOUNCER_PORT, protocol: 'TCP' }],
    readinessProbe: { tcpSocket: { port: 'pgbouncer' }, periodSeconds: 5 },
    livenessProbe: { tcpSocket: { port: 'pgbouncer' }, periodSeconds: 10, failureThreshold: 6 },
    resources: (p.spec.sink.pgbouncer?.resources ?? DEFAULT_PGBOUNCER_RESOURCES) as V1Container['resources'],
    securityContext: {
      runAsNonRoot: true,
      runAsUser: PGBOUNCER_UID,
      runAsGroup: PGBOUNCER_UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: 'config', mountPath: PGBOUNCER_CONFIG_DIR, readOnly: true },
      { name: 'auth', mountPath: PGBOUNCER_AUTH_DIR, readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
      ...(r.sink.postgres.ca ? [{ name: 'server-ca', mountPath: PGBOUNCER_CA_DIR, readOnly: true }] : []),
      ...clientTls.mounts,
    ],
  };
  const podSpec: V1PodSpec = {
    securityContext: { runAsNonRoot: true, fsGroup: PGBOUNCER_UID, seccompProfile: { type: 'RuntimeDefault' } },
    // The workers use the API, PgBouncer never does.
    automountServiceAccountToken: false,
    containers: [container],
    volumes,
    ...(p.spec.imagePullSecrets ? { imagePullSecrets: p.spec.imagePullSecrets } : {}),
  };
  // PgBouncer reads its files at start: a rotated password or another setting rolls its pods. The pool size
  // rolls them only with autoscaling off. With it on, the autoscaler sets the size on every running pod
  // through the admin console each round (SET default_pool_size: no restart, no dropped client), so a
  // scaling step must not replace the pods; the ConfigMap carries the size for pods that start later. With
  // it off nothing sets the size live (the autoscaler leaves the pipeline alone, and a reconcile that dialled
  // each pod's admin console would put network I/O where only the API is used), so an edit of
  // spec.sink.pgbouncer.poolSize replaces the pods, as an edit of the flusher count replaces the workers
  // (config.ts). Turning autoscaling on or off rolls them once, onto the size the ConfigMap then holds.
  const sizeLive = r.autoscaling.enabled;
  const hash = stableHash({
    ini: pgbouncerIni(r, sizeLive ? 0 : input.poolSize),
    secrets: input.secretVersions,
    ca: r.sink.postgres.ca ?? null,
    // A new admin password (only when its Secret was lost) must reach PgBouncer, which reads its auth file at
    // start. Hashing it reveals nothing: it is 192 random bits, not a guessable choice of a person.
    admin: input.adminPassword ?? null,
  });
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: objectMeta(p, n.pgbouncerConfig, 'pgbouncer'),
      data: { 'pgbouncer.ini': ini },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: objectMeta(p, n.pgbouncerAuth, 'pgbouncer'),
      type: 'Opaque',
      data: Object.fromEntries(Object.entries(auth).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: objectMeta(p, n.pgbouncer, 'pgbouncer'),
      spec: {
        replicas: r.sink.pgbouncer.replicas,
        selector: { matchLabels: selector },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: { labels: stdLabels(r.name, 'pgbouncer'), annotations: { [CONFIG_HASH_ANNOTATION]: hash } },
          spec: podSpec,
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: objectMeta(p, n.pgbouncer, 'pgbouncer'),
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [{ name: 'pgbouncer', port: PGBOUNCER_PORT, targetPort: 'pgbouncer', protocol: 'TCP' }],
      },
    },
    renderAdminSecret(p, input.adminPassword),
  ];
}
