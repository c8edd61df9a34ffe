// A container spec as a local process: its argv and env, with absolute paths under a mount rewritten into
// the container's root (no chroot needed). The runner runs two commands: `mqtt2pg ...` as <repo>/cli/main.ts
// on the repo's Node (`mqtt2pg worker` gets --listen-host <pod IP> and the declared metrics/health ports; Service
// names resolve through cluster-dns.ts, preloaded by a flag of the node command line, since there is no
// cluster DNS or kube-proxy), and
// `pgbouncer FILE` as /usr/sbin/pgbouncer under the postgres user (it refuses root) on a copy of FILE
// listening on the pod IP.

import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import type { Cluster, ResolvedOptions } from './context.ts';
import { fieldRef, kubeconfigFile, pgbouncerDir, type Sandbox } from './sandbox.ts';
import { hostsFile } from './service-hosts.ts';

export interface ProcessSpec {
  file: string;
  args: string[];
  /** Run as the postgres user: pgbouncer refuses to run as root. */
  asPostgres: boolean;
}

/** Node flags that preload cluster-dns.ts (found next to this file) into every `mqtt2pg` process. */
export const CLUSTER_DNS_PRELOAD = [`--import=${fileURLToPath(new URL('./cluster-dns.ts', import.meta.url))}`];

const nodeBin = (o: ResolvedOptions) => join(o.repoRoot, 'node_modules', '.bin', 'node');

/** Where the kubelet mounts the file a container may write its termination message to. */
export const terminationMessagePath = (c: V1Container) => c.terminationMessagePath ?? '/dev/termination-log';
export const terminationMessageFile = (c: V1Container, root: string) => join(root, terminationMessagePath(c));

/**
 * An absolute path under (or above) a mount path, or the termination message file, rewritten into the
 * container's root; else unchanged.
 */
export function remap(c: V1Container, root: string, arg: string): string {
  const m = /^(--?[^=/]+=)?(\/.*)$/.exec(arg);
  if (!m) return arg;
  const path = m[2] ?? '';
  const mounted =
    path === terminationMessagePath(c) ||
    (c.volumeMounts ?? []).some(
      (v) => path === v.mountPath || path.startsWith(`${v.mountPath}/`) || v.mountPath.startsWith(`${path}/`),
    );
  return mounted ? `${m[1] ?? ''}${root}${path}` : arg;
}

/** A container port by number or by name (as probes and the worker's flags name them). */
export function port(c: V1Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  if (port === undefined) return undefined;
  const named = c.ports?.find((p) => p.name === port)?.containerPort;
  return named ?? (Number.isInteger(Number(port)) ? Number(port) : undefined);
}

/**
 * The node arguments of an `mqtt2pg ARGS` container: cluster-dns.ts preloaded with --import on the command
 * line, not in NODE_OPTIONS, so that the container's environment (the worker's heap flags in NODE_OPTIONS)
 * reaches the process exactly as the pod spec says; a worker also binds its pod IP and the declared ports.
 */
export function mqtt2pgArgs(c: V1Container, args: string[], o: { repoRoot: string; podIp: string }): string[] {
  const argv = [...CLUSTER_DNS_PRELOAD, join(o.repoRoot, 'cli', 'main.ts'), ...args];
  if (args[0] === 'worker') {
    // Every pod shares the host's network: the worker must bind its pod IP, not 0.0.0.0.
    const metrics = port(c, 'metrics');
    const health = port(c, 'health');
    if (!args.includes('--listen-host')) argv.push('--listen-host', o.podIp);
    if (metrics !== undefined && !args.includes('--metrics-port')) argv.push('--metrics-port', String(metrics));
    if (health !== undefined && !args.includes('--health-port')) argv.push('--health-port', String(health));
  }
  return argv;
}

/** The local argv of a container, or an error saying which commands this runner can run. */
export function processSpec(cl: Cluster, sb: Sandbox, c: V1Container, root: string): ProcessSpec {
  const cmd = [...(c.command ?? []), ...(c.args ?? [])].map((a) => remap(c, root, a));
  const [exe, ...rest] = cmd;
  if (exe === 'mqtt2pg') {
    const args = mqtt2pgArgs(c, rest, { repoRoot: cl.o.repoRoot, podIp: sb.ip });
    return { file: nodeBin(cl.o), args, asPostgres: false };
  }
  if (exe === 'pgbouncer' || exe?.endsWith('/pgbouncer')) {
    const ini = rest.find((a) => !a.startsWith('-'));
    if (!ini) throw new Error(`container ${c.name}: pgbouncer without a config file`);
    return { file: '/usr/sbin/pgbouncer', args: [localPgbouncerIni(cl, sb, c, root, ini)], asPostgres: true };
  }
  throw new Error(
    `container ${c.name}: the local pod runner runs only the "mqtt2pg" and "pgbouncer" commands (got ${JSON.stringify(cmd)}); ` +
      'set the container command to one of them',
  );
}

/**
 * pgbouncer runs as postgres, which cannot reach into the runner's (root-owned, 0700) directories: its
 * config and every file the config names are copied into a directory of its own, the ini rewritten to
 * listen on the pod IP and to read those copies (and, with pgbouncerUpstream, to use that PostgreSQL).
 */
function localPgbouncerIni(cl: Cluster, sb: Sandbox, c: V1Container, root: string, ini: string): string {
  const up = cl.o.pgbouncerUpstream;
  const run = pgbouncerDir(sb);
  rmSync(run, { recursive: true, force: true });
  mkdirSync(run, { recursive: true, mode: 0o700 });
  const copies: string[] = [];
  const copy = (path: string) => {
    const local = remap(c, root, path);
    if (local === path) return path;
    const dest = join(run, path.replace(/^\//, '').replace(/\//g, '_'));
    writeFileSync(dest, readFileSync(local), { mode: 0o600 });
    copies.push(dest);
    return dest;
  };
  const text = readFileSync(ini, 'utf8')
    .split('\n')
    .map((line) => {
      if (/^\s*listen_addr\s*=/.test(line)) return `listen_addr = ${sb.ip}`;
      if (/^\s*unix_socket_dir\s*=/.test(line)) return 'unix_socket_dir =';
      if (up && /\bhost=\S+/.test(line))
        return line.replace(/\bhost=\S+/, `host=${up.host}`).replace(/\bport=\d+/, `port=${up.port}`);
      return line.replace(/(=\s*|%include\s+)(\/\S+)/, (_, pre: string, p: string) => `${pre}${copy(p)}`);
    })
    .join('\n');
  const file = join(run, 'pgbouncer.ini');
  writeFileSync(file, text, { mode: 0o600 });
  const pg = postgresIds();
  for (const p of [run, file, ...copies]) chownSync(p, pg.uid, pg.gid);
  return file;
}

let pgIds: { uid: number; gid: number } | undefined;
function postgresIds() {
  if (!pgIds) {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('postgres:'));
    if (!line)
      throw new Error('pgbouncer pods run as the postgres user, which does not exist: run test/env/up.sh first');
    const f = line.split(':');
    pgIds = { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return pgIds;
}

/** The container's environment: a minimal base, the downward API, Secret and ConfigMap keys, $(VAR) expansion. */
export async function containerEnv(
  cl: Cluster,
  sb: Sandbox,
  c: V1Container,
  root: string,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    PATH: `${dirname(nodeBin(cl.o))}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: root,
    HOSTNAME: sb.name,
  };
  if ((c.volumeMounts ?? []).some((m) => m.mountPath === '/tmp')) env.TMPDIR = join(root, 'tmp');
  if (existsSync(kubeconfigFile(sb))) env.KUBECONFIG = kubeconfigFile(sb);
  // No cluster DNS: Service names resolve through the runner's table (cluster-dns.ts, preloaded by mqtt2pgArgs).
  if (c.command?.[0] === 'mqtt2pg') env.MQTT2PG_LOCAL_CLUSTER_HOSTS = hostsFile(cl.o);
  const resolve = async (e: V1EnvVar): Promise<string | undefined> => {
    if (e.value !== undefined) return e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n) => env[n] ?? m);
    const f = e.valueFrom;
    if (f?.fieldRef) return fieldRef(sb, f.fieldRef.fieldPath);
    if (f?.secretKeyRef) {
      const s = await cl.core.readNamespacedSecret({ name: f.secretKeyRef.name ?? '', namespace: sb.namespace });
      const b = s.data?.[f.secretKeyRef.key];
      return b === undefined ? undefined : Buffer.from(b, 'base64').toString('utf8');
    }
    if (f?.configMapKeyRef) {
      const cm = await cl.core.readNamespacedConfigMap({
        name: f.configMapKeyRef.name ?? '',
        namespace: sb.namespace,
      });
      return cm.data?.[f.configMapKeyRef.key];
    }
    return undefined;
  };
  for (const e of c.env ?? []) {
    const v = await resolve(e);
    if (v !== undefined) env[e.name] = remap(c, root, v);
  }
  return env;
}
