// Where the API server is and how to authenticate. The common cases are read here: a pod's service account
// (its token file rotates), and a kubeconfig whose user has a token, a token file, a client certificate or a
// username and password. Importing @kubernetes/client-node costs the operator ~85 MiB of RSS (its generated
// API models load with its KubeConfig), so it is loaded only for what it alone knows: exec plugins,
// auth-provider entries, and KUBECONFIG lists of several files to merge. operator/runtime/kube.ts and the worker's
// pipeline watch (worker/scale-watch.ts) turn the options into requests.

import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { load } from 'js-yaml';

export interface ApiAuth {
  server: URL;
  /** TLS and header options for one request; re-evaluated each time, so rotating credentials are followed. */
  options(): Promise<RequestOptions>;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Files named by a kubeconfig (token, certificates) are read again after this long: rotations are followed. */
const FILE_REFRESH_MS = 60_000;

interface Named<T> {
  name: string;
  [key: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}
type Entry = Record<string, unknown>;

/** A file's content, read again once it is FILE_REFRESH_MS old. */
function refreshingFile(path: string): () => Buffer {
  let value: Buffer | undefined;
  let readAt = 0;
  return () => {
    if (!value || Date.now() - readAt > FILE_REFRESH_MS) {
      value = readFileSync(path);
      readAt = Date.now();
    }
    return value;
  };
}

/** A kubeconfig field given inline as base64 (`<field>-data`) or as a file path (relative to the kubeconfig). */
function dataOrFile(entry: Entry, field: string, base: string): (() => Buffer) | undefined {
  const data = entry[`${field}-data`];
  if (typeof data === 'string' && data) {
    const b = Buffer.from(data, 'base64');
    return () => b;
  }
  const file = entry[field];
  if (typeof file === 'string' && file) return refreshingFile(resolveFrom(base, file));
  return undefined;
}

const resolveFrom = (base: string, file: string) => (isAbsolute(file) ? file : join(base, file));

function authFrom(server: string, cluster: Entry, user: Entry, base: string): ApiAuth {
  const ca = dataOrFile(cluster, 'certificate-authority', base);
  const cert = dataOrFile(user, 'client-certificate', base);
  const key = dataOrFile(user, 'client-key', base);
  const tokenFile = typeof user.tokenFile === 'string' ? refreshingFile(resolveFrom(base, user.tokenFile)) : undefined;
  const token = typeof user.token === 'string' ? user.token : undefined;
  const basic =
    typeof user.username === 'string'
      ? `${user.username}:${typeof user.password === 'string' ? user.password : ''}`
      : '';
  const insecure = cluster['insecure-skip-tls-verify'] === true;
  const serverName = typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined;
  return {
    server: new URL(server),
    async options() {
      const headers: Record<string, string> = {};
      const bearer = token ?? tokenFile?.().toString('utf8').trim();
      if (bearer) headers.Authorization = `Bearer ${bearer}`;
      else if (basic) headers.Authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
      return {
        headers,
        ...(ca ? { ca: ca() } : {}),
        ...(cert ? { cert: cert() } : {}),
        ...(key ? { key: key() } : {}),
        ...(insecure ? { rejectUnauthorized: false } : {}),
        ...(serverName ? { servername: serverName } : {}),
      };
    },
  };
}

/** What only @kubernetes/client-node handles (exec plugins, auth providers, merged files), loaded on demand. */
async function clientNodeAuth(files: string[]): Promise<ApiAuth> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(files[0] as string);
  for (const f of files.slice(1)) {
    const more = new KubeConfig();
    more.loadFromFile(f);
    kc.mergeConfig(more);
  }
  const where = files.join(delimiter);
  if (!kc.getCurrentContext() || !kc.getContextObject(kc.getCurrentContext())) {
    throw new Error(`${where}: no current-context; set one with kubectl config use-context NAME`);
  }
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`${where}: context "${kc.getCurrentContext()}" names a cluster without a server`);
  return {
    server: new URL(server),
    async options() {
      const opts: RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      // kube.ts brings its own keep-alive agent; the credentials stay in the options.
      delete opts.agent;
      return opts;
    },
  };
}

/** Loads a kubeconfig (several files: merged as kubectl does). */
export async function kubeconfigAuth(files: string[]): Promise<ApiAuth> {
  if (files.length > 1) return clientNodeAuth(files);
  const file = files[0] as string;
  const doc = (load(readFileSync(file, 'utf8')) ?? {}) as Entry;
  const current = doc['current-context'];
  const find = (list: string, name: unknown) =>
    ((doc[list] as Named<Entry>[] | undefined) ?? []).find((x) => x?.name === name);
  const context = find('contexts', current)?.context;
  if (!current || !context)
    throw new Error(`${file}: no current-context; set one with kubectl config use-context NAME`);
  const cluster = find('clusters', context.cluster)?.cluster;
  const server = cluster?.server;
  if (!cluster || typeof server !== 'string' || !server) {
    throw new Error(`${file}: context "${String(current)}" names a cluster without a server`);
  }
  const user = find('users', context.user)?.user ?? {};
  if (user.exec || user['auth-provider']) return clientNodeAuth(files);
  return authFrom(server, cluster, user, dirname(file));
}

/** A pod's service account: the API server's Service address, the mounted CA and the (rotating) token file. */
export function inClusterAuth(dir = SERVICE_ACCOUNT_DIR): ApiAuth {
  const host = process.env.KUBERNETES_SERVICE_HOST ?? '';
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  return authFrom(server, { 'certificate-authority': 'ca.crt' }, { tokenFile: 'token' }, dir);
}

/** KUBECONFIG, else ~/.kube/config, else the pod's service account (the order kubectl and client-go use). */
export async function defaultAuth(): Promise<ApiAuth> {
  const files = (process.env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (files.length > 0) return kubeconfigAuth(files);
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return kubeconfigAuth([home]);
  if (process.env.KUBERNETES_SERVICE_HOST && existsSync(join(SERVICE_ACCOUNT_DIR, 'token'))) return inClusterAuth();
  throw new Error(
    'no Kubernetes credentials: set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account',
  );
}

/** The same credentials against another address (tests route through a proxy). */
export const withServer = (auth: ApiAuth, server: string): ApiAuth => ({
  server: new URL(server),
  options: () => auth.options(),
});
