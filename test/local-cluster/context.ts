// What every part of the local cluster shares: the runner's options, its API clients, the way to ask for
// another sync, and the few facts about Pods that the kubelet, the controllers and the Service table all read.

import {
  type AppsV1Api,
  type CoreV1Api,
  type KubeConfig,
  type KubernetesObjectApi,
  PatchStrategy,
  type PolicyV1Api,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';

/** The one node: the controllers bind their pods to it, and the kubelet runs only pods bound to it. */
export const NODE_NAME = 'mqtt2pg-local';
/** This project's objects: the controllers, the Service table and the garbage collector look at no others. */
export const SELECTOR = 'app.kubernetes.io/name=mqtt2pg';
export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface PodRunnerOptions {
  kubeconfig: string;
  /** The one namespace whose workloads this runner plays kubelet and controllers for. */
  namespace: string;
  /** State: pods/, pvcs/ (kept across pods), logs per container start. */
  dir: string;
  repoRoot: string;
  /**
   * Probe periods and delays are multiplied by this: a real kubelet probes readiness every 5 s, which would
   * make every scenario wait for nothing. Thresholds are kept.
   */
  probeScale?: number;
  /** Level-triggered resync on top of the watches. */
  resyncMs?: number;
  /** The PostgreSQL a PgBouncer pod connects to, instead of the host in its pgbouncer.ini (no cluster DNS). */
  pgbouncerUpstream?: { host: string; port: number };
  log?: (line: string) => void;
}

export type ResolvedOptions = Required<Omit<PodRunnerOptions, 'pgbouncerUpstream'>> &
  Pick<PodRunnerOptions, 'pgbouncerUpstream'>;

/** The runner as its parts see it. */
export interface Cluster {
  readonly o: ResolvedOptions;
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly objects: KubernetesObjectApi;
  readonly policy: PolicyV1Api;
  log(msg: string): void;
  /** Asks for a sync; the parts never act on their own between syncs, they only ask for the next one. */
  kick(): void;
  /** A kick after `ms` (a back-off ending), cancelled when the runner stops. */
  later(ms: number): void;
  /** True once the runner stops: probe loops end, watches are not restarted. */
  stopped(): boolean;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The API server's timestamps: RFC 3339 at second precision. */
export const isoSeconds = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;
export const codeOf = (err: unknown) => (err as { code?: number }).code;
export const isNotFound = (err: unknown) => codeOf(err) === 404;

export const isReady = (p: V1Pod) =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
export const isActive = (p: V1Pod) => !p.metadata?.deletionTimestamp;
export const ownedBy = (p: V1Pod, uid: string | undefined) =>
  p.metadata?.ownerReferences?.some((o) => o.uid === uid && o.controller) ?? false;
