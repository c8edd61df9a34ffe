// A real pgbouncer process running the files the operator rendered for a pipeline (its ConfigMap's
// pgbouncer.ini and its auth Secret's userlist.txt, as the API server holds them), for suites without a
// kubelet. Only what a pod's mounts and network decide is rewritten: where it listens and where the auth file
// is. pgbouncer refuses to run as root, so it runs as the postgres user of `make test-env`.

import { spawn } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeClient } from '../../operator/runtime/kube.ts';
import { kubectl } from './env.ts';
import { eventually } from './eventually.ts';
import { paths } from './kube.ts';

export interface PgBouncerProcess {
  port: number;
  logs: string[];
  stop(): Promise<void>;
}

function postgresIds(): { uid: number; gid: number } {
  const f = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'))
    ?.split(':');
  if (!f) throw new Error('no postgres user: run test/env/up.sh first (it installs PostgreSQL and PgBouncer)');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** Starts pgbouncer on 127.0.0.1:`port` from the operator's rendered files for pipeline `ns/name`. */
export async function startRenderedPgBouncer(
  client: KubeClient,
  ns: string,
  name: string,
  port: number,
): Promise<PgBouncerProcess> {
  const cm = await client.request<{ data: Record<string, string> }>(
    'GET',
    paths.configmap(ns, `${name}-pgbouncer-config`),
  );
  const auth = await client.request<{ data: Record<string, string> }>(
    'GET',
    paths.secret(ns, `${name}-pgbouncer-auth`),
  );
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-pgbouncer-'));
  const userlist = join(dir, 'userlist.txt');
  const ini = (cm.data['pgbouncer.ini'] ?? '')
    .split('\n')
    .map((line) => {
      if (/^listen_addr\s*=/.test(line)) return 'listen_addr = 127.0.0.1';
      if (/^listen_port\s*=/.test(line)) return `listen_port = ${port}`;
      if (/^auth_file\s*=/.test(line)) return `auth_file = ${userlist}`;
      return line;
    })
    .join('\n');
  writeFileSync(join(dir, 'pgbouncer.ini'), ini, { mode: 0o600 });
  writeFileSync(userlist, Buffer.from(auth.data['userlist.txt'] ?? '', 'base64'), { mode: 0o600 });
  const pg = postgresIds();
  for (const f of [dir, join(dir, 'pgbouncer.ini'), userlist]) chownSync(f, pg.uid, pg.gid);
  const child = spawn(
    'setpriv',
    ['--pdeathsig', 'SIGKILL', '--reuid', 'postgres', '--regid', 'postgres', '--init-groups', '--'].concat([
      '/usr/sbin/pgbouncer',
      join(dir, 'pgbouncer.ini'),
    ]),
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: string[] = [];
  for (const s of [child.stdout, child.stderr]) s?.on('data', (b: Buffer) => logs.push(...b.toString().split('\n')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(
      () =>
        new Promise<void>((resolve, reject) => {
          if (child.exitCode !== null) reject(new Error(`pgbouncer exited: ${logs.join('\n')}`));
          const s = createConnection({ host: '127.0.0.1', port }, () => {
            s.end();
            resolve();
          });
          s.once('error', reject);
        }),
      { what: `pgbouncer listening on 127.0.0.1:${port}`, timeoutMs: 10_000 },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, logs, stop };
}

/** The login of a pipeline's PgBouncer admin console: the operator's admin Secret (never the pipeline's user). */
export async function pgbouncerAdminLogin(ns: string, name: string): Promise<{ user: string; password: string }> {
  const r = await kubectl(['get', 'secret', `${name}-pgbouncer-admin`, '-n', ns, '-o', 'json']);
  if (r.code !== 0) throw new Error(`the PgBouncer admin Secret of ${ns}/${name}: ${r.stderr}`);
  const data = (JSON.parse(r.stdout) as { data: Record<string, string> }).data;
  const text = (k: string) => Buffer.from(data[k] ?? '', 'base64').toString('utf8');
  return { user: text('username'), password: text('password') };
}
