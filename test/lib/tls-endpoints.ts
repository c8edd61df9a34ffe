// Real TLS endpoints of a test's own, to check that every client verifies what it is told to: a PostgreSQL
// with ssl=on (and only TLS connections allowed), a PgBouncer run from a rendered pgbouncer.ini, a Mosquitto
// TLS listener and a MinIO serving HTTPS, with the certificates of test/lib/test-certs.ts. Ports:
// MQTT2PG_TLS_PORT_BASE and up when set, else free ones.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import pg from 'pg';
import type { PostgresSpec } from '../../api/types.ts';
import type { PgSslMode } from '../../common/pg-tls.ts';
import { REPO_ROOT, requireEnv } from './env.ts';
import { eventually } from './eventually.ts';
import { freePort } from './free-port.ts';
import { makeTestCerts, type TestCerts } from './test-certs.ts';

export { makeTestCerts, SERVER_NAME, type TestCerts } from './test-certs.ts';

let nextPort = Number(process.env.MQTT2PG_TLS_PORT_BASE ?? 0);
export async function tlsTestPort(): Promise<number> {
  return nextPort > 0 ? nextPort++ : await freePort();
}

function accepting(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}

/** PostgreSQL and PgBouncer refuse to run as root: as root, they run as the environment's `postgres` user. */
function serviceUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** One child process of the test, stopped (SIGTERM, then SIGKILL) by stop(). */
export class TestProcess {
  output = '';
  readonly name: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-50_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(
    name: string,
    bin: string,
    args: string[],
    port: number,
    opts: { env?: NodeJS.ProcessEnv; asService?: boolean } = {},
  ): Promise<TestProcess> {
    const user = opts.asService ? serviceUser() : undefined;
    const child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    const p = new TestProcess(name, child);
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${p.output}`);
        await accepting(port);
      },
      { timeoutMs: 20_000, what: `${name} accepting on 127.0.0.1:${port}` },
    );
    return p;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(killer);
  }
}

function handTo(user: { uid: number; gid: number } | undefined, ...paths: string[]): void {
  if (user) for (const p of paths) chownSync(p, user.uid, user.gid);
}

export interface TlsPostgres {
  port: number;
  /** The superuser, password authenticated over TLS only (pg_hba: hostssl). */
  admin: { user: string; password: string };
  /** A client config for the superuser that trusts the right CA (verify-full on 127.0.0.1). */
  adminConfig(database?: string): pg.ClientConfig;
  stop(): Promise<void>;
}

/** A small PostgreSQL cluster of the test's own with ssl=on; only TLS connections are accepted. */
export async function startTlsPostgres(certs: TestCerts): Promise<TlsPostgres> {
  const bin = requireEnv('PG_BIN');
  const port = await tlsTestPort();
  const root = mkdtempSync(join(tmpdir(), 'mqtt2pg-tls-pg-'));
  chmodSync(root, 0o755);
  const data = join(root, 'data');
  const sock = join(root, 'sock');
  mkdirSync(data, { mode: 0o700 });
  mkdirSync(sock, { mode: 0o755 });
  const password = 'tls-test-admin';
  writeFileSync(join(root, 'pw'), password, { mode: 0o600 });
  // PostgreSQL wants its key private to itself.
  writeFileSync(join(root, 'server.key'), certs.serverKey, { mode: 0o600 });
  writeFileSync(join(root, 'server.crt'), certs.serverCert, { mode: 0o644 });
  const user = serviceUser();
  handTo(user, root, data, sock, join(root, 'pw'), join(root, 'server.key'), join(root, 'server.crt'));
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  execFileSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', `--pwfile=${join(root, 'pw')}`, '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'],
    { stdio: ['ignore', 'ignore', 'pipe'], ...asUser },
  );
  writeFileSync(
    join(data, 'pg_hba.conf'),
    'local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n',
  );
  writeFileSync(
    join(data, 'postgresql.auto.conf'),
    [
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      `unix_socket_directories = '${sock}'`,
      'ssl = on',
      `ssl_cert_file = '${join(root, 'server.crt')}'`,
      `ssl_key_file = '${join(root, 'server.key')}'`,
      'fsync = off',
      "password_encryption = 'scram-sha-256'",
      'max_connections = 40',
      '',
    ].join('\n'),
  );
  handTo(user, join(data, 'pg_hba.conf'), join(data, 'postgresql.auto.conf'));
  const proc = await TestProcess.start('postgres (TLS)', join(bin, 'postgres'), ['-D', data], port, {
    asService: true,
  });
  const adminConfig = (database = 'postgres'): pg.ClientConfig => ({
    host: '127.0.0.1',
    port,
    database,
    user: 'postgres',
    password,
    ssl: { ca: certs.ca },
  });
  // Accepting TCP is not accepting logins yet (recovery at start): wait for a query.
  await eventually(() => connectOnce(adminConfig()), { timeoutMs: 20_000, what: 'TLS PostgreSQL answering' });
  return {
    port,
    admin: { user: 'postgres', password },
    adminConfig,
    async stop() {
      await proc.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** What useTlsPostgres() sets up, filled in once `ready` resolves. */
export interface TlsPostgresFixture {
  certs: TestCerts;
  server: TlsPostgres;
  /**
   * Resolves once the server answers and `sql` ran. Node runs a file's top-level before hooks concurrently
   * (inside a describe, one after another): a top-level hook of the test that needs the server awaits this.
   */
  ready: Promise<void>;
}

/**
 * A TLS PostgreSQL for the suite (or describe block) this is called in: new certificates (see makeTestCerts)
 * and a server made before its tests, `sql` run as the superuser (roles, databases); stopped and removed after.
 */
export function useTlsPostgres(sql: string[] = []): TlsPostgresFixture {
  let started!: () => void;
  let failed!: (e: unknown) => void;
  const fixture = {
    ready: new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    }),
  } as TlsPostgresFixture;
  // A hook that never awaits `ready` must not turn a failed start into an unhandled rejection.
  fixture.ready.catch(() => {});
  before(async () => {
    try {
      fixture.certs = makeTestCerts();
      fixture.server = await startTlsPostgres(fixture.certs);
      await adminSql(fixture.server, sql);
      started();
    } catch (e) {
      failed(e);
      throw e;
    }
  });
  after(async () => {
    await fixture.server?.stop();
    if (fixture.certs) rmSync(fixture.certs.dir, { recursive: true, force: true });
  });
  return fixture;
}

/** Logs in with `config`, runs `sql` and disconnects: whether a login (and its TLS handshake) succeeds. */
export async function connectOnce(config: pg.ClientConfig, sql = 'SELECT 1'): Promise<pg.QueryResult> {
  const c = new pg.Client(config);
  c.on('error', () => {}); // a dropped connection rejects the query in flight
  try {
    await c.connect();
    return await c.query(sql);
  } finally {
    await c.end().catch(() => {});
  }
}

/** Runs statements one by one as the TLS PostgreSQL's superuser (role and database set-up of a test). */
export async function adminSql(server: TlsPostgres, statements: string[], database = 'postgres'): Promise<void> {
  for (const sql of statements) await connectOnce(server.adminConfig(database), sql);
}

/** sink.postgres of a pipeline against `server`: TLS as `sslMode` says with the CA of Secret "pg-ca". */
export function tlsPostgresSpec(
  server: TlsPostgres,
  o: { sslMode: PgSslMode; host?: string; database?: string; credentials?: string },
): PostgresSpec {
  return {
    host: o.host ?? '127.0.0.1',
    port: server.port,
    database: o.database ?? 'postgres',
    sslMode: o.sslMode,
    caSecretRef: { name: 'pg-ca' },
    credentialsSecretRef: { name: o.credentials ?? 'pg' },
  };
}

/**
 * A PgBouncer started from a pgbouncer.ini a test got from the operator's renderer. `files` are written next
 * to it (userlist.txt, users.ini, certificates); `paths` maps the directories the ini names (in the pod:
 * /etc/pgbouncer-auth, …) to this directory, and listen_port is replaced by a port of the test's own.
 */
export async function startPgBouncer(
  ini: string,
  files: Record<string, string>,
  paths: string[],
): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await tlsTestPort();
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-tls-pgbouncer-'));
  chmodSync(dir, 0o755);
  const user = serviceUser();
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, name), text, { mode: 0o600 });
    handTo(user, join(dir, name));
  }
  let local = ini;
  for (const p of paths) local = local.split(`${p}/`).join(`${dir}/`);
  local = local
    .replace(/^listen_port = .*$/m, `listen_port = ${port}`)
    .replace(/^listen_addr = .*$/m, 'listen_addr = 127.0.0.1');
  writeFileSync(join(dir, 'pgbouncer.ini'), local, { mode: 0o600 });
  handTo(user, dir, join(dir, 'pgbouncer.ini'));
  const proc = await TestProcess.start('pgbouncer', 'pgbouncer', [join(dir, 'pgbouncer.ini')], port, {
    asService: true,
  });
  return {
    port,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Mosquitto with one TLS listener (server certificate from `certs`), anonymous, no persistence. */
export async function startTlsMosquitto(
  certs: TestCerts,
): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const port = await tlsTestPort();
  const conf = join(certs.dir, `mosquitto-${port}.conf`);
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      `cafile ${certs.caFile}`,
      `certfile ${certs.certFile}`,
      `keyfile ${certs.keyFile}`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      '',
    ].join('\n'),
  );
  const proc = await TestProcess.start('mosquitto (TLS)', requireEnv('MOSQUITTO_BIN'), ['-c', conf], port);
  return { url: `mqtts://127.0.0.1:${port}`, port, stop: () => proc.stop() };
}

/** The MinIO test/env/up.sh built (MINIO_BIN when set, else the version test/env/versions.sh names). */
function minioBinary(): string {
  if (process.env.MINIO_BIN) return process.env.MINIO_BIN;
  const versions = readFileSync(join(REPO_ROOT, 'test/env/versions.sh'), 'utf8');
  const version = /^MINIO_VERSION=(\S+)/m.exec(versions)?.[1];
  const tools =
    process.env.MQTT2PG_TOOLS_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'mqtt2pg/tools');
  const bin = join(tools, `minio-${version}`);
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build it with 'make test-env' (test/env/up.sh)`);
  return bin;
}

export interface TlsMinio {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

/** A MinIO of the test's own serving HTTPS with the server certificate, with one bucket `bucket`. */
export async function startTlsMinio(certs: TestCerts, bucket: string): Promise<TlsMinio> {
  const bin = minioBinary();
  const port = await tlsTestPort();
  const console = await tlsTestPort();
  const root = mkdtempSync(join(tmpdir(), 'mqtt2pg-tls-minio-'));
  const certsDir = join(root, 'certs');
  mkdirSync(certsDir);
  writeFileSync(join(certsDir, 'public.crt'), certs.serverCert);
  writeFileSync(join(certsDir, 'private.key'), certs.serverKey, { mode: 0o600 });
  mkdirSync(join(root, 'data', bucket), { recursive: true });
  const accessKeyId = 'tlstest';
  const secretAccessKey = 'tlstest-secret-key';
  const proc = await TestProcess.start(
    'minio (TLS)',
    bin,
    [
      'server',
      '--quiet',
      '--certs-dir',
      certsDir,
      '--address',
      `127.0.0.1:${port}`,
      '--console-address',
      `127.0.0.1:${console}`,
      join(root, 'data'),
    ],
    port,
    { env: { MINIO_ROOT_USER: accessKeyId, MINIO_ROOT_PASSWORD: secretAccessKey, MINIO_UPDATE: 'off' } },
  );
  return {
    endpoint: `https://127.0.0.1:${port}`,
    accessKeyId,
    secretAccessKey,
    async stop() {
      await proc.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
