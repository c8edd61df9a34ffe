// Where the API server is and how to authenticate, without loading @kubernetes/client-node: its generated
// API client costs ~90 MiB of resident memory just to import, more than the operator's caches for hundreds
// of pipelines. Handles what operators meet in practice (in-cluster service account with rotating token;
// kubeconfig with token, token file or client certificate); exec and auth-provider users fall back to
// client-node's KubeConfig, imported only then.

import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { load } from 'js-yaml';

export interface ApiAuth {
  server: URL;
  /** TLS and header options for one request; may re-read rotating credentials. */
  options(): Promise<RequestOptions>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Bound service account tokens rotate (hourly by default); re-read the file well within that. */
const TOKEN_REREAD_MS = 60_000;

function fileReader(path: string): () => string {
  let cached = { at: 0, value: '' };
  return () => {
    const now = Date.now();
    if (now - cached.at > TOKEN_REREAD_MS) cached = { at: now, value: readFileSync(path, 'utf8').trim() };
    return cached.value;
  };
}

function staticAuth(
  server: string,
  tls: Pick<RequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>,
  token?: () => string,
): ApiAuth {
  return {
    server: new URL(server),
    async options() {
      return { ...tls, ...(token ? { headers: { authorization: `Bearer ${token()}` } } : {}) };
    },
  };
}

export function inClusterAuth(): ApiAuth {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not in a pod: KUBERNETES_SERVICE_HOST is not set');
  const h = host.includes(':') ? `[${host}]` : host;
  return staticAuth(`https://${h}:${port}`, { ca: readFileSync(`${SA_DIR}/ca.crt`) }, fileReader(`${SA_DIR}/token`));
}

interface KubeconfigFile {
  'current-context'?: string;
  clusters?: Array<{ name: string; cluster: Record<string, unknown> }>;
  users?: Array<{ name: string; user: Record<string, unknown> }>;
  contexts?: Array<{ name: string; context: { cluster: string; user: string; namespace?: string } }>;
}

/** Loads one or more kubeconfig files (KUBECONFIG's colon-separated list: the first definition of a name wins). */
export async function kubeconfigAuth(files: string[]): Promise<ApiAuth> {
  const merged: Required<KubeconfigFile> = { 'current-context': '', clusters: [], users: [], contexts: [] };
  const baseOf = new Map<unknown, string>();
  for (const file of files) {
    const doc = (load(readFileSync(file, 'utf8')) ?? {}) as KubeconfigFile;
    merged['current-context'] ||= doc['current-context'] ?? '';
    for (const c of doc.clusters ?? []) baseOf.set(c.cluster, dirname(file));
    for (const u of doc.users ?? []) baseOf.set(u.user, dirname(file));
    merged.clusters.push(...(doc.clusters ?? []));
    merged.users.push(...(doc.users ?? []));
    merged.contexts.push(...(doc.contexts ?? []));
  }
  const where = files.join(':');
  const ctx = merged.contexts.find((c) => c.name === merged['current-context'])?.context;
  if (!ctx) {
    throw new Error(`${where}: no current-context; set one with kubectl config use-context NAME`);
  }
  const cluster = merged.clusters.find((c) => c.name === ctx.cluster)?.cluster;
  const user = merged.users.find((u) => u.name === ctx.user)?.user ?? {};
  if (!cluster || typeof cluster.server !== 'string') {
    throw new Error(
      `${where}: context "${merged['current-context']}" names cluster "${ctx.cluster}", which has no server`,
    );
  }
  if (user.exec || user['auth-provider']) return clientNodeAuth(files);
  const path = (owner: unknown, p: unknown) => resolve(baseOf.get(owner) ?? '.', String(p));
  const bytes = (owner: Record<string, unknown>, dataKey: string, fileKey: string) =>
    typeof owner[dataKey] === 'string'
      ? Buffer.from(owner[dataKey] as string, 'base64')
      : typeof owner[fileKey] === 'string'
        ? readFileSync(path(owner, owner[fileKey]))
        : undefined;
  const ca = bytes(cluster, 'certificate-authority-data', 'certificate-authority');
  const cert = bytes(user, 'client-certificate-data', 'client-certificate');
  const key = bytes(user, 'client-key-data', 'client-key');
  const token =
    typeof user.token === 'string'
      ? () => user.token as string
      : typeof user.tokenFile === 'string'
        ? fileReader(path(user, user.tokenFile))
        : undefined;
  return staticAuth(
    cluster.server,
    {
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(cluster['insecure-skip-tls-verify'] === true ? { rejectUnauthorized: false } : {}),
      ...(typeof cluster['tls-server-name'] === 'string' ? { servername: cluster['tls-server-name'] } : {}),
    },
    token,
  );
}

async function clientNodeAuth(files: string[]): Promise<ApiAuth> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(files[0] as string);
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`${files[0]}: the current context has no cluster server`);
  return {
    server: new URL(server),
    async options() {
      const opts: RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      delete opts.agent;
      return opts;
    },
  };
}

/** KUBECONFIG, else ~/.kube/config, else the pod's service account (the order kubectl and client-go use). */
export async function defaultAuth(): Promise<ApiAuth> {
  const env = process.env.KUBECONFIG;
  if (env) return kubeconfigAuth(env.split(':').filter(Boolean));
  const home = resolve(homedir(), '.kube/config');
  try {
    readFileSync(home);
    return await kubeconfigAuth([home]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (process.env.KUBERNETES_SERVICE_HOST) return inClusterAuth();
  throw new Error(
    'no Kubernetes credentials: set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account',
  );
}

/** The same credentials against another address (tests route through a proxy). */
export const withServer = (auth: ApiAuth, server: string): ApiAuth => ({
  server: new URL(server),
  options: () => auth.options(),
});
