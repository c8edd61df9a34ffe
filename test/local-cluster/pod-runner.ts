// A kubelet plus the Deployment/StatefulSet controllers and the garbage collector, for this project's pods
// only, on a machine without Docker or kube-controller-manager: the local kube-apiserver holds the objects,
// and every Pod runs as local processes. Scoped to one namespace, so the operator's integration tests
// (which play the controllers themselves) never see it.
//
// What a pod gets, kubelet-like:
// - its own address 127.0.0.x (all of 127/8 is local on Linux), so every pod binds its container ports
//   (sandbox.ts);
// - its volumes materialised under <dir>/pods/<ns>_<pod>_<uid>/volumes (ConfigMaps and Secrets written the
//   kubelet way: files are symlinks into an atomically swapped ..data directory, refreshed on change),
//   PVCs under <dir>/pvcs/<ns>/<claim> (they outlive pods), emptyDirs for the pod's lifetime (volumes.ts);
// - a per-container root <podDir>/rootfs/<container> whose mount paths are symlinks to the volumes; absolute
//   paths in the command, args and env under a mount are rewritten into that root (no chroot needed)
//   (process-spec.ts);
// - env with the downward API fields, and a kubeconfig holding a TokenRequest token of its ServiceAccount
//   (the stand-in for the in-cluster token mount, whose path cannot be remapped for a local process);
// - restarts with back-off (same pod name, same volumes), probes, graceful deletion (SIGTERM, the grace
//   period, SIGKILL; an eviction is one too, made by the API server), and a Pod status the API server and
//   the operator read like a real kubelet's (containers.ts, probes.ts, kubelet.ts, pod-status.ts).
//
// Commands: `mqtt2pg ...` and `pgbouncer FILE` (process-spec.ts); Service names resolve to a ready pod's
// address through cluster-dns.ts, preloaded, from the table service-hosts.ts keeps, since there is no cluster
// DNS or kube-proxy. Every process is started with a parent-death signal, so a test runner that dies takes
// its pods with it.
//
// This file wires the parts: watches and a resync kick one sync at a time, and a sync runs the kubelet, the
// Service table, the controllers (deployment-controller.ts, statefulset-controller.ts, job-controller.ts,
// disruption-controller.ts), the PVC protection (volume-claims.ts) and the garbage collector
// (garbage-collector.ts), in that order, against one list of the namespace's pods.

import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  AppsV1Api,
  type BatchV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PolicyV1Api,
  Watch,
} from '@kubernetes/client-node';
import { type Cluster, type PodRunnerOptions, type ResolvedOptions, SELECTOR, sleep } from './context.ts';
import { syncDeployment } from './deployment-controller.ts';
import { syncDisruptionBudgets } from './disruption-controller.ts';
import { collectGarbage, orphanDependents } from './garbage-collector.ts';
import { batchApi, syncJob } from './job-controller.ts';
import { Kubelet, type PodProcessInfo } from './kubelet.ts';
import { ServiceHosts } from './service-hosts.ts';
import { syncStatefulSet } from './statefulset-controller.ts';
import { releaseClaims } from './volume-claims.ts';

export { NODE_NAME, type PodRunnerOptions } from './context.ts';
export type { PodProcessInfo } from './kubelet.ts';

export class PodRunner {
  readonly o: ResolvedOptions;
  private readonly kc = new KubeConfig();
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly batch: BatchV1Api;
  private readonly cluster: Cluster;
  private readonly kubelet: Kubelet;
  private readonly hosts: ServiceHosts;
  private readonly aborts: AbortController[] = [];
  private timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private dirty = false;
  private syncing: Promise<void> | undefined;
  private volumesDirty = false;
  private gcDue = true;
  private syncCount = 0;

  constructor(options: PodRunnerOptions) {
    this.o = { probeScale: 0.1, resyncMs: 1000, log: () => {}, ...options };
    this.kc.loadFromFile(options.kubeconfig);
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.apps = this.kc.makeApiClient(AppsV1Api);
    this.cluster = {
      o: this.o,
      kc: this.kc,
      core: this.core,
      apps: this.apps,
      objects: KubernetesObjectApi.makeApiClient(this.kc),
      policy: this.kc.makeApiClient(PolicyV1Api),
      log: (msg) => this.log(msg),
      kick: () => this.kick(),
      later: (ms) => this.later(ms),
      stopped: () => this.stopped,
    };
    this.batch = batchApi(this.cluster);
    this.kubelet = new Kubelet(this.cluster);
    this.hosts = new ServiceHosts(this.cluster);
    mkdirSync(join(this.o.dir, 'pods'), { recursive: true });
    mkdirSync(join(this.o.dir, 'pvcs'), { recursive: true });
  }

  private log(msg: string) {
    this.o.log(`[pod-runner ${new Date().toISOString().slice(11, 23)}] ${msg}`);
  }

  async start(): Promise<void> {
    const ns = this.o.namespace;
    const watched: Array<[string, Record<string, string>, boolean]> = [
      [`/apis/apps/v1/namespaces/${ns}/deployments`, { labelSelector: SELECTOR }, false],
      [`/apis/apps/v1/namespaces/${ns}/statefulsets`, { labelSelector: SELECTOR }, false],
      [`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, { labelSelector: SELECTOR }, false],
      [`/apis/batch/v1/namespaces/${ns}/jobs`, { labelSelector: SELECTOR }, false],
      [`/api/v1/namespaces/${ns}/persistentvolumeclaims`, {}, false],
      [`/api/v1/namespaces/${ns}/pods`, {}, false],
      // Volume sources: a change is written into the running pods' volumes, as the kubelet does.
      [`/api/v1/namespaces/${ns}/configmaps`, {}, true],
      [`/api/v1/namespaces/${ns}/secrets`, {}, true],
      // Owners: their deletion starts the garbage collection of their children.
      [`/apis/mqtt2pg.io/v1alpha1/namespaces/${ns}/ingestpipelines`, {}, false],
    ];
    for (const [path, query, volumes] of watched) this.watch(path, query, volumes);
    const resync = setInterval(() => this.kick(), this.o.resyncMs);
    this.timers.add(resync);
    this.kick();
    await this.syncing;
  }

  private watch(path: string, query: Record<string, string>, volumes: boolean) {
    if (this.stopped) return;
    const restart = () => {
      if (this.stopped) return;
      // The resync covers what happens while the watch is down; re-watching from now is enough.
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.watch(path, query, volumes);
      }, 1000);
      this.timers.add(t);
    };
    new Watch(this.kc)
      .watch(
        path,
        query,
        (phase) => {
          if (volumes) this.volumesDirty = true;
          if (phase === 'DELETED') this.gcDue = true;
          this.kick();
        },
        () => restart(),
      )
      .then((a) => {
        if (this.stopped) a.abort();
        else this.aborts.push(a);
      })
      .catch(() => restart());
  }

  /** Asks for a sync; syncs never overlap, and a kick during one runs another after it. */
  kick(): void {
    this.dirty = true;
    if (this.syncing || this.stopped) return;
    this.syncing = (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        try {
          await this.sync();
        } catch (err) {
          this.log(`sync failed (retried): ${(err as Error).stack ?? err}`);
          await sleep(500);
          this.dirty = true;
        }
      }
      this.syncing = undefined;
    })();
  }

  private later(ms: number) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.kick();
    }, ms);
    this.timers.add(t);
  }

  /** Stops every pod process (SIGTERM, then SIGKILL after graceMs) and the watches; leaves the API objects. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    for (const a of this.aborts) a.abort();
    await this.syncing;
    await this.kubelet.stopAll(graceMs);
  }

  pods(): PodProcessInfo[] {
    return this.kubelet.pods();
  }

  /** Sends a signal to a pod's container process (as `kill` on the node would); false when none runs. */
  signal(podName: string, signal: NodeJS.Signals, container?: string): boolean {
    return this.kubelet.signal(podName, signal, container);
  }

  /** The last lines of every container of every pod this runner ran (also the ones already deleted). */
  logs(lines = 40): string {
    const out: string[] = [];
    const podsDir = join(this.o.dir, 'pods');
    for (const pod of existsSync(podsDir) ? readdirSync(podsDir).sort() : []) {
      const logDir = join(podsDir, pod, 'logs');
      for (const f of existsSync(logDir) ? readdirSync(logDir).sort() : []) {
        const text = readFileSync(join(logDir, f), 'utf8').split('\n');
        out.push(`--- ${pod}/${f} (last ${lines} lines)`, ...text.slice(-lines - 1));
      }
    }
    return out.join('\n');
  }

  /** One pass: the kubelet, the Service table, the controllers, the garbage collector, on one list of pods. */
  private async sync(): Promise<void> {
    const ns = this.o.namespace;
    this.syncCount++;
    const pods = (await this.core.listNamespacedPod({ namespace: ns })).items;
    const volumesDirty = this.volumesDirty;
    this.volumesDirty = false;
    await this.kubelet.sync(pods, volumesDirty);
    await this.hosts.write(pods);
    const deployments = (await this.apps.listNamespacedDeployment({ namespace: ns, labelSelector: SELECTOR })).items;
    for (const d of deployments) await syncDeployment(this.cluster, d, pods);
    const sets = (await this.apps.listNamespacedStatefulSet({ namespace: ns, labelSelector: SELECTOR })).items;
    for (const s of sets) await syncStatefulSet(this.cluster, s, pods);
    await orphanDependents(this.cluster, 'Deployment', deployments, pods);
    await orphanDependents(this.cluster, 'StatefulSet', sets, pods);
    await syncDisruptionBudgets(this.cluster, pods, [...deployments, ...sets]);
    const jobs = (await this.batch.listNamespacedJob({ namespace: ns, labelSelector: SELECTOR })).items;
    for (const j of jobs) await syncJob(this.cluster, this.batch, j, pods);
    await releaseClaims(this.cluster, pods);
    // Every fifth sync as well, for deletions no watch reported (only some kinds are watched, and a watch
    // restarted after an error starts from now).
    if (this.gcDue || this.syncCount % 5 === 0) {
      this.gcDue = false;
      await collectGarbage(this.cluster, () => {
        this.gcDue = true;
      });
    }
  }
}

// `node test/local-cluster/pod-runner.ts --namespace NS [--dir DIR]`: run the runner alone, e.g. next to a
// manually started operator (KUBECONFIG from the environment).
if (import.meta.main) {
  const arg = (flag: string) => {
    const i = process.argv.indexOf(flag);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const namespace = arg('--namespace');
  const kubeconfig = process.env.KUBECONFIG;
  if (!namespace || !kubeconfig) {
    console.error('usage: KUBECONFIG=FILE node test/local-cluster/pod-runner.ts --namespace NS [--dir DIR]');
    process.exit(2);
  }
  const repoRoot = join(dirname(new URL(import.meta.url).pathname), '..', '..');
  const runner = new PodRunner({
    kubeconfig,
    namespace,
    dir: arg('--dir') ?? join(repoRoot, '.test-env', 'local-cluster', namespace),
    repoRoot,
    log: (l) => console.log(l),
  });
  await runner.start();
  const stop = () => void runner.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
