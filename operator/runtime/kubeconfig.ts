// Where the API server is and how to authenticate: @kubernetes/client-node's KubeConfig, which knows every
// way a kubeconfig or a pod can hold credentials (tokens, token files that rotate, client certificates,
// exec plugins, in-cluster service accounts). kube.ts turns its options into requests.

import type { RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

export interface ApiAuth {
  server: URL;
  /** TLS and header options for one request; re-evaluated each time, so rotating credentials are followed. */
  options(): Promise<RequestOptions>;
}

function fromKubeConfig(kc: KubeConfig, where: string): ApiAuth {
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

/** Loads one kubeconfig file. */
export async function kubeconfigAuth(files: string[]): Promise<ApiAuth> {
  const kc = new KubeConfig();
  kc.loadFromFile(files[0] as string);
  return fromKubeConfig(kc, files[0] as string);
}

/** KUBECONFIG, else ~/.kube/config, else the pod's service account (the order kubectl and client-go use). */
export async function defaultAuth(): Promise<ApiAuth> {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  if (!kc.getCurrentCluster()) {
    throw new Error(
      'no Kubernetes credentials: set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account',
    );
  }
  return fromKubeConfig(kc, process.env.KUBECONFIG ?? 'the default kubeconfig');
}

/** The same credentials against another address (tests route through a proxy). */
export const withServer = (auth: ApiAuth, server: string): ApiAuth => ({
  server: new URL(server),
  options: () => auth.options(),
});
