// The referenced Secrets' data for the reconciler: cached while the resourceVersion the metadata-only
// informer reports holds (so a rotation is noticed without keeping every Secret's data), read from the API
// server otherwise, and an index of which pipelines use which Secret (a Secret event re-queues exactly them).

import type { InformerSet } from './runtime/informer.ts';
import { isNotFound, type KubeClient, type KubeObject } from './runtime/kube.ts';
import type { SecretData } from './secrets.ts';

export interface ReadSecrets {
  /** Data of each referenced Secret that exists, by name. */
  secretData: Map<string, SecretData>;
  /** Its resourceVersion: the pod hashes follow these, never the values. */
  secretVersions: Map<string, string>;
}

export class SecretReader {
  private readonly client: KubeClient;
  private readonly meta: InformerSet;
  /** Data of referenced Secrets, by "ns/name", valid while the resourceVersion matches the metadata cache. */
  private readonly cache = new Map<string, { rv: string; data: SecretData }>();
  /** Secret "ns/name" → pipelines ("ns/name") that reference it, as of their last reconcile. */
  private readonly users = new Map<string, Set<string>>();
  private readonly pipelineSecrets = new Map<string, Set<string>>();

  constructor(client: KubeClient, meta: InformerSet) {
    this.client = client;
    this.meta = meta;
  }

  /** Pipelines to reconcile when the Secret with this key changes. */
  pipelinesUsing(secretKey: string): string[] {
    return [...(this.users.get(secretKey) ?? [])];
  }

  forget(secretKey: string): void {
    this.cache.delete(secretKey);
  }

  /** Records the Secrets ("ns/name") a pipeline references now; none forgets the pipeline. */
  index(pipelineKey: string, secretKeys: string[]): void {
    for (const old of this.pipelineSecrets.get(pipelineKey) ?? []) this.users.get(old)?.delete(pipelineKey);
    if (secretKeys.length === 0) {
      this.pipelineSecrets.delete(pipelineKey);
      return;
    }
    this.pipelineSecrets.set(pipelineKey, new Set(secretKeys));
    for (const s of secretKeys) {
      const users = this.users.get(s) ?? new Set<string>();
      users.add(pipelineKey);
      this.users.set(s, users);
    }
  }

  /** The data and version of every named Secret of `ns` that exists; remembers that `pipelineKey` uses them. */
  async readAll(pipelineKey: string, ns: string, names: string[]): Promise<ReadSecrets> {
    this.index(
      pipelineKey,
      names.map((s) => `${ns}/${s}`),
    );
    const secretData = new Map<string, SecretData>();
    const secretVersions = new Map<string, string>();
    for (const name of names) {
      const d = await this.read(ns, name);
      if (!d) continue;
      secretData.set(name, d);
      secretVersions.set(name, this.cache.get(`${ns}/${name}`)?.rv ?? '');
    }
    return { secretData, secretVersions };
  }

  /** A Secret's data (cached while its resourceVersion holds), or undefined when it does not exist. */
  async read(ns: string, name: string): Promise<SecretData | undefined> {
    const key = `${ns}/${name}`;
    const meta = this.meta.get(key);
    const cached = this.cache.get(key);
    if (meta && cached && cached.rv === meta.metadata.resourceVersion) return cached.data;
    // The metadata cache may lag a Secret created a moment ago; the API server is the authority.
    try {
      const s = await this.client.request<KubeObject & { data?: SecretData }>(
        'GET',
        `/api/v1/namespaces/${ns}/secrets/${encodeURIComponent(name)}`,
      );
      const data = s.data ?? {};
      this.cache.set(key, { rv: s.metadata.resourceVersion ?? '', data });
      return data;
    } catch (err) {
      if (isNotFound(err)) {
        this.cache.delete(key);
        return undefined;
      }
      throw err;
    }
  }
}
