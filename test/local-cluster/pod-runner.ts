// A kubelet plus the Deployment/StatefulSet controllers and the garbage collector, for this project's pods
// only, on a machine without Docker or kube-controller-manager: the local kube-apiserver holds the objects,
// and every Pod runs as local processes. Scoped to one namespace, so the operator's integration tests
// (which play the controllers themselves) never see it.
//
// What a pod gets, kubelet-like:
// - its own address 127.0.0.x (all of 127/8 is local on Linux), so every pod binds its container ports;
// - its volumes materialised under <dir>/pods/<ns>_<pod>_<uid>/volumes (ConfigMaps and Secrets written the
//   kubelet way: files are symlinks into an atomically swapped ..data directory, refreshed on change),
//   PVCs under <dir>/pvcs/<ns>/<claim> (they outlive pods), emptyDirs for the pod's lifetime;
// - a per-container root <podDir>/rootfs/<container> whose mount paths are symlinks to the volumes; absolute
//   paths in the command, args and env under a mount are rewritten into that root (no chroot needed);
// - env with the downward API fields, and a kubeconfig holding a TokenRequest token of its ServiceAccount
//   (the stand-in for the in-cluster token mount, whose path cannot be remapped for a local process);
// - restarts with back-off (same pod name, same volumes), probes, graceful deletion (SIGTERM, the grace
//   period, SIGKILL), and a Pod status the API server and the operator read like a real kubelet's.
//
// Commands: `mqtt2pg ...` runs <repo>/cli/main.ts on the repo's Node (`mqtt2pg worker` gets
// --listen-host <pod IP> and the declared metrics/health ports; Service names resolve to a ready pod's address
// through cluster-dns.ts, preloaded, since there is no cluster DNS or kube-proxy); `pgbouncer FILE` runs /usr/sbin/pgbouncer as
// the postgres user (it refuses root) on a copy of FILE listening on the pod IP. Every process is started
// with a parent-death signal, so a test runner that dies takes its pods with it.

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chownSync,
  createWriteStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1ContainerStatus,
  type V1Deployment,
  type V1EnvVar,
  type V1Pod,
  type V1PodCondition,
  type V1Probe,
  type V1StatefulSet,
  type V1Volume,
  Watch,
} from '@kubernetes/client-node';

export const NODE_NAME = 'mqtt2pg-local';
const SELECTOR = 'app.kubernetes.io/name=mqtt2pg';
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

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

interface Termination {
  exitCode: number;
  signal?: string;
  reason: string;
  startedAt: Date;
  finishedAt: Date;
}

interface ContainerRun {
  spec: V1Container;
  child?: ChildProcess;
  exited?: Promise<void>;
  startedAt?: Date;
  /** Times the process was started again after it ended (the kubelet's restartCount). */
  restartCount: number;
  starts: number;
  /** Consecutive crashes, for the back-off; reset after a long run. */
  crashes: number;
  backoffUntil: number;
  started: boolean;
  ready: boolean;
  last?: Termination;
  waiting?: { reason: string; message: string };
  log?: WriteStream;
  tail: string[];
  /** Bumped on every start: probe loops of a previous process stop. */
  epoch: number;
}

interface Sandbox {
  key: string;
  uid: string;
  namespace: string;
  name: string;
  ip: string;
  dir: string;
  pod: V1Pod;
  startTime: Date;
  containers: ContainerRun[];
  terminating: boolean;
  /** resourceVersion of each ConfigMap/Secret a volume was written from. */
  sources: Map<string, string>;
  conditionTimes: Map<string, string>;
  lastStatus?: string;
  setupError?: string;
}

export interface PodProcessInfo {
  namespace: string;
  name: string;
  uid: string;
  ip: string;
  dir: string;
  containers: Array<{ name: string; pid?: number; restartCount: number; ready: boolean }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isoSeconds = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;
const codeOf = (err: unknown) => (err as { code?: number }).code;
const isNotFound = (err: unknown) => codeOf(err) === 404;
export const templateHash = (template: unknown) =>
  createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);

/** A count or a percentage of `total` (maxSurge rounds up, maxUnavailable down, as the controller does). */
function intOrPercent(v: number | string | undefined, total: number, fallback: string, roundUp: boolean): number {
  const x = v ?? fallback;
  if (typeof x === 'number') return x;
  const pct = Number(x.replace('%', ''));
  const n = (pct * total) / 100;
  return roundUp ? Math.ceil(n) : Math.floor(n);
}

export interface PodView {
  name: string;
  ready: boolean;
  /** creationTimestamp, for oldest-first choices. */
  created: string;
  /** Runs the current template (pod-template-hash). */
  fresh: boolean;
}

/**
 * One step of the Deployment controller for pods that are not terminating: how many new pods to create and
 * which to delete. RollingUpdate: at most replicas + maxSurge pods, old pods removed only while at least
 * replicas - maxUnavailable stay ready (unready old pods first); Recreate: every old pod gone before any new one.
 */
export function planDeployment(o: {
  replicas: number;
  strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
  active: PodView[];
  terminating: number;
}): { create: number; remove: string[]; maxUnavailable: number } {
  const n = o.replicas;
  const rolling = o.strategy?.type !== 'Recreate';
  const surge = rolling ? intOrPercent(o.strategy?.rollingUpdate?.maxSurge, n, '25%', true) : 0;
  const maxUnavailable = rolling ? intOrPercent(o.strategy?.rollingUpdate?.maxUnavailable, n, '25%', false) : n;
  // Oldest pods go first, unready ones before ready ones.
  const order = (a: PodView, b: PodView) => Number(a.ready) - Number(b.ready) || a.created.localeCompare(b.created);
  const fresh = o.active.filter((p) => p.fresh);
  const old = o.active.filter((p) => !p.fresh).sort(order);
  const remove: string[] = [];
  let create = 0;
  if (!rolling) {
    if (old.length > 0) remove.push(...old.map((p) => p.name));
    else if (o.terminating === 0 && fresh.length < n) create = n - fresh.length;
    else if (fresh.length > n)
      remove.push(
        ...fresh
          .sort(order)
          .slice(0, fresh.length - n)
          .map((p) => p.name),
      );
  } else if (old.length === 0) {
    if (fresh.length < n) create = n - fresh.length;
    else
      remove.push(
        ...fresh
          .sort(order)
          .slice(0, fresh.length - n)
          .map((p) => p.name),
      );
  } else {
    create = Math.max(0, Math.min(n - fresh.length, n + surge - o.active.length));
    const minAvailable = n - maxUnavailable;
    const freshUnready = fresh.filter((p) => !p.ready).length + create;
    let budget = o.active.length + create - minAvailable - freshUnready;
    for (const p of old.filter((x) => !x.ready)) {
      if (budget <= 0) break;
      remove.push(p.name);
      budget--;
    }
    let readyLeft = o.active.filter((p) => p.ready).length;
    for (const p of old.filter((x) => x.ready)) {
      if (budget <= 0 || readyLeft - 1 < minAvailable) break;
      remove.push(p.name);
      budget--;
      readyLeft--;
    }
  }
  return { create, remove, maxUnavailable };
}

const isReady = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const isActive = (p: V1Pod) => !p.metadata?.deletionTimestamp;
const ownedBy = (p: V1Pod, uid: string | undefined) =>
  p.metadata?.ownerReferences?.some((o) => o.uid === uid && o.controller) ?? false;

export class PodRunner {
  readonly o: Required<Omit<PodRunnerOptions, 'pgbouncerUpstream'>> & Pick<PodRunnerOptions, 'pgbouncerUpstream'>;
  private readonly kc = new KubeConfig();
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly objects: KubernetesObjectApi;
  private readonly sandboxes = new Map<string, Sandbox>();
  private readonly usedIps = new Set<string>();
  private readonly aborts: AbortController[] = [];
  private timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private dirty = false;
  private syncing: Promise<void> | undefined;
  private volumesDirty = false;
  private gcDue = true;
  private syncCount = 0;
  private hostsText = '';

  constructor(options: PodRunnerOptions) {
    this.o = { probeScale: 0.1, resyncMs: 1000, log: () => {}, ...options };
    this.kc.loadFromFile(options.kubeconfig);
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.apps = this.kc.makeApiClient(AppsV1Api);
    this.objects = KubernetesObjectApi.makeApiClient(this.kc);
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

  /** Stops every pod process (SIGTERM, then SIGKILL after graceMs) and the watches; leaves the API objects. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    for (const a of this.aborts) a.abort();
    await this.syncing;
    await Promise.all(
      [...this.sandboxes.values()].map(async (sb) => {
        sb.terminating = true;
        await Promise.all(sb.containers.map((c) => this.killContainer(c, graceMs)));
      }),
    );
  }

  pods(): PodProcessInfo[] {
    return [...this.sandboxes.values()].map((sb) => ({
      namespace: sb.namespace,
      name: sb.name,
      uid: sb.uid,
      ip: sb.ip,
      dir: sb.dir,
      containers: sb.containers.map((c) => ({
        name: c.spec.name,
        ...(c.child?.pid !== undefined ? { pid: c.child.pid } : {}),
        restartCount: c.restartCount,
        ready: c.ready,
      })),
    }));
  }

  /** Sends a signal to a pod's container process (as `kill` on the node would); false when none runs. */
  signal(podName: string, signal: NodeJS.Signals, container?: string): boolean {
    const sb = this.sandboxes.get(`${this.o.namespace}/${podName}`);
    const c = sb?.containers.find((x) => container === undefined || x.spec.name === container);
    if (!c?.child?.pid || c.child.exitCode !== null || c.child.signalCode !== null) return false;
    process.kill(-c.child.pid, signal);
    return true;
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

  // ---- the sync: kubelet, then controllers, then the garbage collector --------------------------------

  private async sync(): Promise<void> {
    const ns = this.o.namespace;
    this.syncCount++;
    const pods = (await this.core.listNamespacedPod({ namespace: ns })).items;
    const volumesDirty = this.volumesDirty;
    this.volumesDirty = false;
    const seen = new Set<string>();
    for (const pod of pods) {
      if (pod.spec?.nodeName !== NODE_NAME) continue;
      seen.add(`${ns}/${pod.metadata?.name}`);
      await this.syncPod(pod, volumesDirty);
    }
    // Pods force-deleted from the API (grace 0) or gone while we were down: stop their processes now.
    for (const sb of [...this.sandboxes.values()]) {
      if (!seen.has(sb.key) && !sb.terminating) this.terminateInBackground(sb, 0, false);
    }
    await this.writeHosts(pods);
    const deployments = (await this.apps.listNamespacedDeployment({ namespace: ns, labelSelector: SELECTOR })).items;
    for (const d of deployments) await this.syncDeployment(d, pods);
    const sets = (await this.apps.listNamespacedStatefulSet({ namespace: ns, labelSelector: SELECTOR })).items;
    for (const s of sets) await this.syncStatefulSet(s, pods);
    if (this.gcDue || this.syncCount % 5 === 0) {
      this.gcDue = false;
      await this.collectGarbage();
    }
  }

  // ---- kubelet ------------------------------------------------------------------------------------------

  private async syncPod(pod: V1Pod, volumesDirty: boolean) {
    const ns = this.o.namespace;
    const name = pod.metadata?.name ?? '';
    const uid = pod.metadata?.uid ?? '';
    const key = `${ns}/${name}`;
    let sb = this.sandboxes.get(key);
    if (sb && sb.uid !== uid) {
      // A StatefulSet pod recreated under the same name: the old incarnation must be gone first.
      if (!sb.terminating) this.terminateInBackground(sb, 0, false);
      return;
    }
    if (pod.metadata?.deletionTimestamp) {
      if (sb && !sb.terminating) {
        const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
        this.terminateInBackground(sb, grace * 1000, true);
      } else if (!sb) {
        await this.deletePodNow(pod);
      }
      return;
    }
    if (!sb) {
      sb = await this.createSandbox(pod);
      if (!sb) return;
    } else {
      sb.pod = pod;
      if (volumesDirty && !sb.setupError) await this.writeVolumes(sb).catch(() => {});
    }
    if (sb.setupError) {
      // Retried on every sync, as the kubelet retries a mount whose ConfigMap or Secret is missing.
      try {
        await this.writeVolumes(sb);
        sb.setupError = undefined;
      } catch (err) {
        sb.setupError = (err as Error).message;
      }
    }
    if (!sb.setupError && !sb.terminating) {
      for (const c of sb.containers) {
        if (c.child) continue;
        const wait = c.backoffUntil - Date.now();
        if (wait <= 0) await this.startContainer(sb, c);
        else this.later(wait);
      }
    }
    await this.writePodStatus(sb);
  }

  private later(ms: number) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.kick();
    }, ms);
    this.timers.add(t);
  }

  private async createSandbox(pod: V1Pod): Promise<Sandbox | undefined> {
    const ns = this.o.namespace;
    const name = pod.metadata?.name ?? '';
    const uid = pod.metadata?.uid ?? '';
    const ports = (pod.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
    const ip = await this.allocateIp(ports);
    const dir = join(this.o.dir, 'pods', `${ns}_${name}_${uid.slice(0, 8)}`);
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const sb: Sandbox = {
      key: `${ns}/${name}`,
      uid,
      namespace: ns,
      name,
      ip,
      dir,
      pod,
      startTime: new Date(),
      containers: (pod.spec?.containers ?? []).map((spec) => ({
        spec,
        restartCount: 0,
        starts: 0,
        crashes: 0,
        backoffUntil: 0,
        started: false,
        ready: false,
        tail: [],
        epoch: 0,
      })),
      terminating: false,
      sources: new Map(),
      conditionTimes: new Map(),
    };
    this.sandboxes.set(sb.key, sb);
    this.log(`pod ${name} (${uid.slice(0, 8)}) gets ${ip}`);
    try {
      await this.writeVolumes(sb);
      await this.writeKubeconfig(sb);
    } catch (err) {
      sb.setupError = (err as Error).message;
      this.log(`pod ${name}: ${sb.setupError}`);
    }
    return sb;
  }

  /** The lowest 127.0.0.x (x ≥ 2) where every container port of the pod is free. */
  private async allocateIp(ports: number[]): Promise<string> {
    const free = (host: string, port: number) =>
      new Promise<boolean>((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
      });
    for (let x = 2; x < 255; x++) {
      const ip = `127.0.0.${x}`;
      if (this.usedIps.has(ip)) continue;
      let ok = true;
      for (const p of ports) if (!(await free(ip, p))) ok = false;
      if (ok) {
        this.usedIps.add(ip);
        return ip;
      }
    }
    throw new Error(
      `no 127.0.0.x address has ports ${ports.join(', ')} free: a process listening on 0.0.0.0 holds one of them (ss -ltnp)`,
    );
  }

  private volumeDir(sb: Sandbox, v: V1Volume): string {
    if (v.persistentVolumeClaim) return join(this.o.dir, 'pvcs', sb.namespace, v.persistentVolumeClaim.claimName);
    return join(sb.dir, 'volumes', v.name);
  }

  /** Writes every volume of the pod (ConfigMaps and Secrets only when their resourceVersion changed). */
  private async writeVolumes(sb: Sandbox) {
    const ns = sb.namespace;
    for (const v of sb.pod.spec?.volumes ?? []) {
      const dir = this.volumeDir(sb, v);
      if (v.emptyDir || v.persistentVolumeClaim) {
        mkdirSync(dir, { recursive: true });
        continue;
      }
      let files: Map<string, Buffer> | undefined;
      let version = '';
      if (v.configMap) {
        const cm = await this.core
          .readNamespacedConfigMap({ name: v.configMap.name ?? '', namespace: ns })
          .catch((e) => {
            if (isNotFound(e) && v.configMap?.optional) return undefined;
            throw new Error(
              `MountVolume.SetUp failed for volume "${v.name}": configmap "${v.configMap?.name}" not found`,
            );
          });
        version = cm?.metadata?.resourceVersion ?? '';
        const data = new Map<string, Buffer>([
          ...Object.entries(cm?.data ?? {}).map(([k, s]) => [k, Buffer.from(s)] as [string, Buffer]),
          ...Object.entries(cm?.binaryData ?? {}).map(([k, s]) => [k, Buffer.from(s, 'base64')] as [string, Buffer]),
        ]);
        files = pick(data, v.configMap.items);
      } else if (v.secret) {
        const s = await this.core
          .readNamespacedSecret({ name: v.secret.secretName ?? '', namespace: ns })
          .catch((e) => {
            if (isNotFound(e) && v.secret?.optional) return undefined;
            throw new Error(
              `MountVolume.SetUp failed for volume "${v.name}": secret "${v.secret?.secretName}" not found`,
            );
          });
        version = s?.metadata?.resourceVersion ?? '';
        const data = new Map(Object.entries(s?.data ?? {}).map(([k, b]) => [k, Buffer.from(b, 'base64')]));
        files = pick(data, v.secret.items);
      } else if (v.downwardAPI) {
        const meta = sb.pod.metadata ?? {};
        files = new Map();
        for (const item of v.downwardAPI.items ?? []) {
          const f = item.fieldRef?.fieldPath ?? '';
          const value =
            f === 'metadata.labels'
              ? Object.entries(meta.labels ?? {})
                  .map(([k, x]) => `${k}="${x}"`)
                  .join('\n')
              : f === 'metadata.annotations'
                ? Object.entries(meta.annotations ?? {})
                    .map(([k, x]) => `${k}="${x}"`)
                    .join('\n')
                : this.fieldRef(sb, f);
          files.set(item.path, Buffer.from(value));
        }
        version = meta.resourceVersion ?? '';
      } else {
        throw new Error(
          `volume "${v.name}": the local pod runner supports configMap, secret, emptyDir, persistentVolumeClaim and downwardAPI volumes`,
        );
      }
      if (sb.sources.get(v.name) === version && existsSync(dir)) continue;
      writeAtomically(dir, files);
      sb.sources.set(v.name, version);
    }
    // Per-container roots: each mount path is a symlink to its volume.
    for (const c of sb.containers) {
      const root = join(sb.dir, 'rootfs', c.spec.name);
      for (const m of c.spec.volumeMounts ?? []) {
        const v = sb.pod.spec?.volumes?.find((x) => x.name === m.name);
        if (!v) throw new Error(`container ${c.spec.name}: volumeMount "${m.name}" names no volume of the pod`);
        const at = join(root, m.mountPath);
        if (lexists(at)) continue;
        mkdirSync(dirname(at), { recursive: true });
        symlinkSync(join(this.volumeDir(sb, v), m.subPath ?? ''), at);
      }
    }
  }

  /** The ServiceAccount token the pod would have mounted, as a kubeconfig the worker's client finds. */
  private async writeKubeconfig(sb: Sandbox) {
    const spec = sb.pod.spec;
    if (spec?.automountServiceAccountToken === false) return;
    const sa = spec?.serviceAccountName ?? 'default';
    let token: string;
    try {
      const tr = await this.core.createNamespacedServiceAccountToken({
        name: sa,
        namespace: sb.namespace,
        body: {
          spec: {
            audiences: [],
            expirationSeconds: 3600,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: sb.name, uid: sb.uid },
          },
        },
      });
      token = tr.status?.token ?? '';
    } catch (err) {
      // A pod runs without API access when its ServiceAccount is missing, as it would fail to start in a
      // cluster only with the ServiceAccount admission plugin, which the local API server runs without.
      this.log(`pod ${sb.name}: no token for ServiceAccount ${sa} (${codeOf(err) ?? err}); no KUBECONFIG`);
      return;
    }
    const cluster = this.kc.getCurrentCluster();
    const yaml = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: local',
      '  cluster:',
      `    server: ${cluster?.server}`,
      `    certificate-authority-data: ${cluster?.caData ?? Buffer.from(readFileSync(cluster?.caFile ?? '')).toString('base64')}`,
      'users:',
      `- name: ${sa}`,
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: local',
      '  context:',
      '    cluster: local',
      `    user: ${sa}`,
      `    namespace: ${sb.namespace}`,
      'current-context: local',
      '',
    ].join('\n');
    writeFileSync(join(sb.dir, 'kubeconfig'), yaml, { mode: 0o600 });
  }

  private fieldRef(sb: Sandbox, path: string): string {
    const p = sb.pod;
    const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
    if (label) return (label[1] === 'labels' ? p.metadata?.labels : p.metadata?.annotations)?.[label[2] ?? ''] ?? '';
    const fields: Record<string, string | undefined> = {
      'metadata.name': p.metadata?.name,
      'metadata.namespace': p.metadata?.namespace,
      'metadata.uid': p.metadata?.uid,
      'spec.nodeName': p.spec?.nodeName,
      'spec.serviceAccountName': p.spec?.serviceAccountName,
      'status.podIP': sb.ip,
      'status.podIPs': sb.ip,
      'status.hostIP': '127.0.0.1',
    };
    return fields[path] ?? '';
  }

  private async containerEnv(sb: Sandbox, c: V1Container, root: string): Promise<Record<string, string>> {
    const env: Record<string, string> = {
      PATH: `${dirname(this.nodeBin())}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: root,
      HOSTNAME: sb.name,
    };
    if ((c.volumeMounts ?? []).some((m) => m.mountPath === '/tmp')) env.TMPDIR = join(root, 'tmp');
    if (existsSync(join(sb.dir, 'kubeconfig'))) env.KUBECONFIG = join(sb.dir, 'kubeconfig');
    if (c.command?.[0] === 'mqtt2pg') {
      // No cluster DNS: Service names resolve through the runner's table (see cluster-dns.ts).
      env.NODE_OPTIONS = `--import=${join(this.o.repoRoot, 'e2e', 'local-cluster', 'cluster-dns.ts')}`;
      env.MQTT2PG_LOCAL_CLUSTER_HOSTS = this.hostsFile();
    }
    const resolve = async (e: V1EnvVar): Promise<string | undefined> => {
      if (e.value !== undefined) return e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n) => env[n] ?? m);
      const f = e.valueFrom;
      if (f?.fieldRef) return this.fieldRef(sb, f.fieldRef.fieldPath);
      if (f?.secretKeyRef) {
        const s = await this.core.readNamespacedSecret({ name: f.secretKeyRef.name ?? '', namespace: sb.namespace });
        const b = s.data?.[f.secretKeyRef.key];
        return b === undefined ? undefined : Buffer.from(b, 'base64').toString('utf8');
      }
      if (f?.configMapKeyRef) {
        const cm = await this.core.readNamespacedConfigMap({
          name: f.configMapKeyRef.name ?? '',
          namespace: sb.namespace,
        });
        return cm.data?.[f.configMapKeyRef.key];
      }
      return undefined;
    };
    for (const e of c.env ?? []) {
      const v = await resolve(e);
      if (v !== undefined) env[e.name] = this.remap(c, root, v);
    }
    return env;
  }

  private hostsFile() {
    return join(this.o.dir, 'hosts.json');
  }

  /** Service names → the address of a ready pod the Service selects (what cluster DNS + kube-proxy give). */
  private async writeHosts(pods: V1Pod[]) {
    const ns = this.o.namespace;
    const services = (await this.core.listNamespacedService({ namespace: ns, labelSelector: SELECTOR })).items;
    const table: Record<string, string> = {};
    for (const svc of services) {
      const sel = svc.spec?.selector;
      if (!sel) continue;
      const ready = pods
        .filter((p) => isActive(p) && isReady(p) && p.status?.podIP)
        .filter((p) => Object.entries(sel).every(([k, v]) => p.metadata?.labels?.[k] === v))
        .sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
      const ip = ready[0]?.status?.podIP;
      if (!ip) continue;
      const n = svc.metadata?.name ?? '';
      for (const host of [n, `${n}.${ns}`, `${n}.${ns}.svc`, `${n}.${ns}.svc.cluster.local`]) table[host] = ip;
    }
    const text = JSON.stringify(table);
    if (text === this.hostsText) return;
    writeFileSync(`${this.hostsFile()}.tmp`, text);
    renameSync(`${this.hostsFile()}.tmp`, this.hostsFile());
    this.hostsText = text;
  }

  private nodeBin() {
    return join(this.o.repoRoot, 'node_modules', '.bin', 'node');
  }

  /** An absolute path under (or above) a mount path, rewritten into the container's root; else unchanged. */
  private remap(c: V1Container, root: string, arg: string): string {
    const m = /^(--?[^=/]+=)?(\/.*)$/.exec(arg);
    if (!m) return arg;
    const path = m[2] ?? '';
    const mounted = (c.volumeMounts ?? []).some(
      (v) => path === v.mountPath || path.startsWith(`${v.mountPath}/`) || v.mountPath.startsWith(`${path}/`),
    );
    return mounted ? `${m[1] ?? ''}${root}${path}` : arg;
  }

  private port(c: V1Container, port: number | string | undefined): number | undefined {
    if (typeof port === 'number') return port;
    if (port === undefined) return undefined;
    const named = c.ports?.find((p) => p.name === port)?.containerPort;
    return named ?? (Number.isInteger(Number(port)) ? Number(port) : undefined);
  }

  /** The local argv of a container, or an error saying which commands this runner can run. */
  private argv(sb: Sandbox, c: V1Container, root: string): { file: string; args: string[]; asPostgres: boolean } {
    const cmd = [...(c.command ?? []), ...(c.args ?? [])].map((a) => this.remap(c, root, a));
    const [exe, ...rest] = cmd;
    if (exe === 'mqtt2pg') {
      const args = [join(this.o.repoRoot, 'cli', 'main.ts'), ...rest];
      if (rest[0] === 'worker') {
        const metrics = this.port(c, 'metrics');
        const health = this.port(c, 'health');
        if (!rest.includes('--listen-host')) args.push('--listen-host', sb.ip);
        if (metrics !== undefined && !rest.includes('--metrics-port')) args.push('--metrics-port', String(metrics));
        if (health !== undefined && !rest.includes('--health-port')) args.push('--health-port', String(health));
      }
      return { file: this.nodeBin(), args, asPostgres: false };
    }
    if (exe === 'pgbouncer' || exe?.endsWith('/pgbouncer')) {
      const ini = rest.find((a) => !a.startsWith('-'));
      if (!ini) throw new Error(`container ${c.name}: pgbouncer without a config file`);
      return { file: '/usr/sbin/pgbouncer', args: [this.localPgbouncerIni(sb, c, root, ini)], asPostgres: true };
    }
    throw new Error(
      `container ${c.name}: the local pod runner runs only the "mqtt2pg" and "pgbouncer" commands (got ${JSON.stringify(cmd)}); ` +
        'set the container command to one of them',
    );
  }

  /** A copy of the rendered pgbouncer.ini: listening on the pod IP, paths in the pod root, the test PostgreSQL. */
  /**
   * pgbouncer runs as postgres, which cannot reach into the runner's (root-owned, 0700) directories: its
   * config and every file the config names are copied into a directory of its own, the ini rewritten to
   * listen on the pod IP and to read those copies (and, with pgbouncerUpstream, to use that PostgreSQL).
   */
  private localPgbouncerIni(sb: Sandbox, c: V1Container, root: string, ini: string): string {
    const up = this.o.pgbouncerUpstream;
    const run = pgbouncerDir(sb);
    rmSync(run, { recursive: true, force: true });
    mkdirSync(run, { recursive: true, mode: 0o700 });
    const copies: string[] = [];
    const copy = (path: string) => {
      const local = this.remap(c, root, path);
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

  private async startContainer(sb: Sandbox, c: ContainerRun) {
    const root = join(sb.dir, 'rootfs', c.spec.name);
    mkdirSync(root, { recursive: true });
    let argv: { file: string; args: string[]; asPostgres: boolean };
    let env: Record<string, string>;
    try {
      argv = this.argv(sb, c.spec, root);
      env = await this.containerEnv(sb, c.spec, root);
    } catch (err) {
      c.waiting = { reason: 'CreateContainerConfigError', message: (err as Error).message };
      c.backoffUntil = Date.now() + 5000;
      this.later(5000);
      return;
    }
    if (c.starts > 0) c.restartCount++;
    c.starts++;
    c.epoch++;
    c.started = false;
    c.ready = false;
    c.waiting = undefined;
    const logFile = join(sb.dir, 'logs', `${c.spec.name}-${c.starts - 1}.log`);
    c.log = createWriteStream(logFile, { flags: 'a' });
    // Parent-death signal: if the process running this runner dies, its pods die with it (no orphans).
    const pre = ['--pdeathsig', 'SIGKILL'];
    const ids = argv.asPostgres ? ['--reuid', 'postgres', '--regid', 'postgres', '--init-groups'] : [];
    const child = spawn('setpriv', [...pre, ...ids, '--', argv.file, ...argv.args], {
      cwd: argv.asPostgres ? pgbouncerDir(sb) : root,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    c.child = child;
    c.startedAt = new Date();
    const onData = (b: Buffer) => {
      c.log?.write(b);
      const lines = b.toString('utf8').split('\n').filter(Boolean);
      c.tail.push(...lines);
      if (c.tail.length > 200) c.tail.splice(0, c.tail.length - 200);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    c.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const finishedAt = new Date();
        const startedAt = c.startedAt ?? finishedAt;
        const exitCode = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
        c.last = {
          exitCode,
          ...(signal ? { signal } : {}),
          reason: exitCode === 0 ? 'Completed' : 'Error',
          startedAt,
          finishedAt,
        };
        c.child = undefined;
        c.started = false;
        c.ready = false;
        c.log?.end();
        // The kubelet's back-off (10 s doubling to 5 min) scaled down: 0, 1, 2, 4 … 20 s; reset after a minute up.
        if (finishedAt.getTime() - startedAt.getTime() > 60_000) c.crashes = 0;
        const delay = c.crashes === 0 ? 0 : Math.min(20_000, 1000 * 2 ** (c.crashes - 1));
        c.crashes++;
        c.backoffUntil = Date.now() + delay;
        if (delay > 0)
          c.waiting = { reason: 'CrashLoopBackOff', message: `back-off ${delay} ms restarting failed container` };
        this.log(
          `pod ${sb.name} container ${c.spec.name} exited (${signal ?? `code ${code}`})${sb.terminating ? '' : `; restart in ${delay} ms`}`,
        );
        resolve();
        this.kick();
      });
    });
    child.once('error', (err) => {
      c.waiting = { reason: 'RunContainerError', message: err.message };
    });
    this.log(`pod ${sb.name} container ${c.spec.name} started, pid ${child.pid}: ${argv.file} ${argv.args.join(' ')}`);
    this.probe(sb, c);
  }

  /** Startup, readiness and liveness probes of one process, until it ends. */
  private probe(sb: Sandbox, c: ContainerRun) {
    const epoch = c.epoch;
    const alive = () => c.epoch === epoch && c.child !== undefined && !this.stopped;
    const s = c.spec;
    const scaled = (sec: number | undefined, dflt: number) => Math.max(100, (sec ?? dflt) * 1000 * this.o.probeScale);
    const loop = async (probe: V1Probe, gate: () => boolean, onResult: (ok: boolean, failures: number) => void) => {
      await sleep(scaled(probe.initialDelaySeconds, 0));
      let failures = 0;
      let successes = 0;
      while (alive()) {
        if (gate()) {
          const ok = await this.check(sb, s, probe);
          if (!alive()) return;
          failures = ok ? 0 : failures + 1;
          successes = ok ? successes + 1 : 0;
          onResult(ok && successes >= (probe.successThreshold ?? 1), failures);
        }
        await sleep(scaled(probe.periodSeconds, 10));
      }
    };
    if (s.startupProbe) {
      void loop(
        s.startupProbe,
        () => !c.started,
        (ok, failures) => {
          if (ok) {
            c.started = true;
            this.kick();
          } else if (failures >= (s.startupProbe?.failureThreshold ?? 3)) {
            this.log(`pod ${sb.name} container ${s.name}: startup probe failed ${failures} times; restarting it`);
            void this.killContainer(c, (sb.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000);
          }
        },
      );
    } else c.started = true;
    if (s.readinessProbe) {
      void loop(
        s.readinessProbe,
        () => c.started,
        (ok, failures) => {
          const next = ok ? true : failures >= (s.readinessProbe?.failureThreshold ?? 3) ? false : c.ready;
          if (next !== c.ready) {
            c.ready = next;
            this.kick();
          }
        },
      );
    } else {
      c.ready = true;
      this.kick();
    }
    if (s.livenessProbe) {
      void loop(
        s.livenessProbe,
        () => c.started,
        (ok, failures) => {
          if (!ok && failures >= (s.livenessProbe?.failureThreshold ?? 3)) {
            this.log(`pod ${sb.name} container ${s.name}: liveness probe failed ${failures} times; restarting it`);
            void this.killContainer(c, (sb.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000);
          }
        },
      );
    }
  }

  private async check(sb: Sandbox, c: V1Container, probe: V1Probe): Promise<boolean> {
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    if (probe.httpGet) {
      const port = this.port(c, probe.httpGet.port as number | string);
      const scheme = (probe.httpGet.scheme ?? 'HTTP').toLowerCase();
      try {
        const r = await fetch(`${scheme}://${probe.httpGet.host ?? sb.ip}:${port}${probe.httpGet.path ?? '/'}`, {
          signal: AbortSignal.timeout(timeoutMs),
        });
        await r.arrayBuffer();
        return r.status >= 200 && r.status < 400;
      } catch {
        return false;
      }
    }
    if (probe.tcpSocket) {
      const port = this.port(c, probe.tcpSocket.port as number | string);
      return new Promise((resolve) => {
        const s = net.connect({ host: probe.tcpSocket?.host ?? sb.ip, port: port ?? 0, timeout: timeoutMs });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
        s.once('timeout', () => {
          s.destroy();
          resolve(false);
        });
      });
    }
    return false;
  }

  /** SIGTERM to the container's process group, SIGKILL after graceMs; resolves when it has exited. */
  private async killContainer(c: ContainerRun, graceMs: number) {
    const child = c.child;
    if (!child?.pid || !c.exited) return;
    const exited = c.exited;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {}
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {}
    }, graceMs);
    await exited;
    clearTimeout(timer);
  }

  private terminateInBackground(sb: Sandbox, graceMs: number, deleteFromApi: boolean) {
    this.terminate(sb, graceMs, deleteFromApi).catch((err) => {
      // The sandbox is gone; the Pod object, still marked for deletion, is removed by a later sync.
      this.log(`pod ${sb.name}: finishing the deletion failed (retried): ${(err as Error).message}`);
      this.later(1000);
    });
  }

  /** Graceful deletion: stop the containers, then (if the Pod object still exists) remove it from the API. */
  private async terminate(sb: Sandbox, graceMs: number, deleteFromApi: boolean) {
    sb.terminating = true;
    this.log(`pod ${sb.name}: terminating (grace ${graceMs} ms)`);
    await Promise.all(sb.containers.map((c) => this.killContainer(c, graceMs)));
    // emptyDirs and the pod's volumes go with the pod; PVCs (under pvcs/) and the logs stay.
    rmSync(join(sb.dir, 'volumes'), { recursive: true, force: true });
    rmSync(join(sb.dir, 'rootfs'), { recursive: true, force: true });
    rmSync(join(sb.dir, 'kubeconfig'), { force: true });
    rmSync(pgbouncerDir(sb), { recursive: true, force: true });
    this.usedIps.delete(sb.ip);
    if (this.sandboxes.get(sb.key) === sb) this.sandboxes.delete(sb.key);
    this.kick();
    if (deleteFromApi) await this.deletePodNow(sb.pod);
  }

  private async deletePodNow(pod: V1Pod) {
    try {
      await this.core.deleteNamespacedPod({
        name: pod.metadata?.name ?? '',
        namespace: this.o.namespace,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid ?? '' } },
      });
    } catch (err) {
      if (!isNotFound(err) && codeOf(err) !== 409) throw err;
    }
  }

  private async writePodStatus(sb: Sandbox) {
    const now = isoSeconds(new Date());
    const running = sb.containers.some((c) => c.child);
    const allReady = sb.containers.every((c) => c.ready && c.child);
    const cond = (type: string, ok: boolean, reason?: string): V1PodCondition => {
      const status = ok ? 'True' : 'False';
      const k = `${type}=${status}`;
      if (!sb.conditionTimes.has(k)) {
        sb.conditionTimes.delete(`${type}=${ok ? 'False' : 'True'}`);
        sb.conditionTimes.set(k, now);
      }
      return {
        type,
        status,
        lastTransitionTime: sb.conditionTimes.get(k) as unknown as Date,
        ...(reason && !ok ? { reason } : {}),
      };
    };
    const containerStatuses: V1ContainerStatus[] = sb.containers.map((c) => {
      const term = (t: Termination) => ({
        exitCode: t.exitCode,
        reason: t.reason,
        ...(t.signal ? { message: `killed by ${t.signal}` } : {}),
        startedAt: isoSeconds(t.startedAt) as unknown as Date,
        finishedAt: isoSeconds(t.finishedAt) as unknown as Date,
      });
      const state = c.child
        ? { running: { startedAt: isoSeconds(c.startedAt ?? new Date()) as unknown as Date } }
        : {
            waiting: c.waiting ?? {
              reason: sb.setupError ? 'ContainerCreating' : 'PodInitializing',
              message: sb.setupError ?? '',
            },
          };
      return {
        name: c.spec.name,
        image: c.spec.image ?? '',
        imageID: '',
        ...(c.child?.pid ? { containerID: `local://${c.child.pid}` } : {}),
        ready: c.ready && c.child !== undefined,
        started: c.started && c.child !== undefined,
        restartCount: c.restartCount,
        state,
        lastState: c.last ? { terminated: term(c.last) } : {},
      };
    });
    const status = {
      phase: running || sb.containers.some((c) => c.starts > 0) ? 'Running' : 'Pending',
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: sb.ip,
      podIPs: [{ ip: sb.ip }],
      startTime: isoSeconds(sb.startTime),
      conditions: [
        cond('PodReadyToStartContainers', !sb.setupError),
        cond('Initialized', true),
        cond('Ready', allReady, 'ContainersNotReady'),
        cond('ContainersReady', allReady, 'ContainersNotReady'),
        cond('PodScheduled', true),
      ],
      containerStatuses,
    };
    const text = JSON.stringify(status);
    if (text === sb.lastStatus) return;
    try {
      const updated = await this.core.patchNamespacedPodStatus(
        { name: sb.name, namespace: sb.namespace, body: { status } },
        MERGE_PATCH,
      );
      sb.lastStatus = text;
      sb.pod = updated;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  // ---- Deployment controller (pods owned directly by the Deployment: no ReplicaSet objects) -------------

  private async syncDeployment(d: V1Deployment, all: V1Pod[]) {
    const name = d.metadata?.name ?? '';
    const n = d.spec?.replicas ?? 1;
    const hash = templateHash(d.spec?.template);
    const pods = all.filter((p) => ownedBy(p, d.metadata?.uid));
    const active = pods.filter(isActive);
    const fresh = active.filter((p) => p.metadata?.labels?.['pod-template-hash'] === hash);
    const old = active.filter((p) => p.metadata?.labels?.['pod-template-hash'] !== hash);
    const view = (p: V1Pod, isFresh: boolean): PodView => ({
      name: p.metadata?.name ?? '',
      ready: isReady(p),
      // The client hands out Dates; ISO strings sort by time.
      created: p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp).toISOString() : '',
      fresh: isFresh,
    });
    const plan = planDeployment({
      replicas: n,
      strategy: d.spec?.strategy,
      active: [...fresh.map((p) => view(p, true)), ...old.map((p) => view(p, false))],
      terminating: pods.length - active.length,
    });
    const create = plan.create;
    const del = active.filter((p) => plan.remove.includes(p.metadata?.name ?? ''));
    const maxUnavailable = plan.maxUnavailable;
    for (let i = 0; i < create; i++) {
      const podName = `${name}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`;
      await this.createPod(d, 'Deployment', podName, { 'pod-template-hash': hash });
    }
    for (const p of del) await this.deletePod(p);
    const ready = active.filter(isReady).length;
    const freshReady = fresh.filter(isReady).length;
    const status = {
      observedGeneration: d.metadata?.generation,
      replicas: active.length,
      updatedReplicas: fresh.length,
      readyReplicas: ready,
      availableReplicas: ready,
      ...(active.length - ready > 0 ? { unavailableReplicas: active.length - ready } : {}),
      conditions: [
        deployCondition(
          d,
          'Available',
          ready >= n - maxUnavailable,
          'MinimumReplicasAvailable',
          'MinimumReplicasUnavailable',
        ),
        deployCondition(
          d,
          'Progressing',
          true,
          freshReady >= n && old.length === 0 ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
          '',
        ),
      ],
    };
    await this.writeWorkloadStatus(d, 'deployments', status);
  }

  // ---- StatefulSet controller (Parallel pod management; RollingUpdate one pod at a time, highest first) ---

  private async syncStatefulSet(s: V1StatefulSet, all: V1Pod[]) {
    const name = s.metadata?.name ?? '';
    const n = s.spec?.replicas ?? 1;
    const revision = `${name}-${templateHash(s.spec?.template)}`;
    const pods = all.filter((p) => ownedBy(p, s.metadata?.uid));
    const byName = new Map(pods.map((p) => [p.metadata?.name ?? '', p]));
    const claims = s.spec?.volumeClaimTemplates ?? [];
    for (let i = 0; i < n; i++) {
      const podName = `${name}-${i}`;
      if (byName.has(podName)) continue;
      const volumes: V1Volume[] = claims.map((c) => ({
        name: c.metadata?.name ?? '',
        persistentVolumeClaim: { claimName: `${c.metadata?.name}-${podName}` },
      }));
      await this.createPod(
        s,
        'StatefulSet',
        podName,
        {
          'controller-revision-hash': revision,
          'statefulset.kubernetes.io/pod-name': podName,
          'apps.kubernetes.io/pod-index': String(i),
        },
        volumes,
      );
    }
    const ordinal = (p: V1Pod) => Number(/-(\d+)$/.exec(p.metadata?.name ?? '')?.[1] ?? -1);
    for (const p of pods) if (ordinal(p) >= n && isActive(p)) await this.deletePod(p);
    const inRange = pods.filter((p) => ordinal(p) < n);
    const active = inRange.filter(isActive);
    const updated = active.filter((p) => p.metadata?.labels?.['controller-revision-hash'] === revision);
    if (s.spec?.updateStrategy?.type !== 'OnDelete' && active.length === n && active.every(isReady)) {
      const stale = active
        .filter((p) => p.metadata?.labels?.['controller-revision-hash'] !== revision)
        .sort((a, b) => ordinal(b) - ordinal(a))[0];
      if (stale) await this.deletePod(stale);
    }
    const ready = active.filter(isReady).length;
    const current = active.find((p) => p.metadata?.labels?.['controller-revision-hash'] !== revision);
    const status = {
      observedGeneration: s.metadata?.generation,
      replicas: active.length,
      readyReplicas: ready,
      availableReplicas: ready,
      updatedReplicas: updated.length,
      currentReplicas: current ? active.length - updated.length : updated.length,
      currentRevision: current?.metadata?.labels?.['controller-revision-hash'] ?? revision,
      updateRevision: revision,
    };
    await this.writeWorkloadStatus(s, 'statefulsets', status);
  }

  private async createPod(
    owner: V1Deployment | V1StatefulSet,
    kind: 'Deployment' | 'StatefulSet',
    name: string,
    labels: Record<string, string>,
    extraVolumes: V1Volume[] = [],
  ) {
    const t = owner.spec?.template;
    const pod: V1Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: this.o.namespace,
        labels: { ...(t?.metadata?.labels ?? {}), ...labels },
        annotations: t?.metadata?.annotations ?? {},
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind,
            name: owner.metadata?.name ?? '',
            uid: owner.metadata?.uid ?? '',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        ...(t?.spec ?? { containers: [] }),
        // The scheduler's part: there is one node. A bound pod is deleted gracefully by the API server, so
        // this runner sees the deletion and stops the processes before the object goes.
        nodeName: NODE_NAME,
        volumes: [...(t?.spec?.volumes ?? []), ...extraVolumes],
        ...(kind === 'StatefulSet' ? { hostname: name } : {}),
      },
    };
    try {
      await this.core.createNamespacedPod({ namespace: this.o.namespace, body: pod });
      this.log(`${kind} ${owner.metadata?.name}: created pod ${name}`);
    } catch (err) {
      if (codeOf(err) !== 409) throw err;
    }
    this.kick();
  }

  private async deletePod(p: V1Pod) {
    try {
      await this.core.deleteNamespacedPod({ name: p.metadata?.name ?? '', namespace: this.o.namespace });
      this.log(`deleted pod ${p.metadata?.name}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.kick();
  }

  private async writeWorkloadStatus(
    w: V1Deployment | V1StatefulSet,
    plural: 'deployments' | 'statefulsets',
    status: Record<string, unknown>,
  ) {
    const cur = (w.status ?? {}) as Record<string, unknown>;
    const changed = Object.entries(status).some(([k, v]) => normalized(cur[k]) !== normalized(v));
    const dropped = ['unavailableReplicas'].filter((k) => cur[k] !== undefined && !(k in status));
    if (!changed && dropped.length === 0) return;
    const body = { status: { ...status, ...Object.fromEntries(dropped.map((k) => [k, null])) } };
    const args = { name: w.metadata?.name ?? '', namespace: this.o.namespace, body };
    try {
      if (plural === 'deployments') await this.apps.patchNamespacedDeploymentStatus(args, MERGE_PATCH);
      else await this.apps.patchNamespacedStatefulSetStatus(args, MERGE_PATCH);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  // ---- garbage collector: dependents whose every owner is gone are deleted (background propagation) ------

  private async collectGarbage() {
    const ns = this.o.namespace;
    const kinds: Array<[string, string]> = [
      ['v1', 'Pod'],
      ['v1', 'ConfigMap'],
      ['v1', 'Secret'],
      ['v1', 'Service'],
      ['v1', 'ServiceAccount'],
      ['apps/v1', 'Deployment'],
      ['apps/v1', 'StatefulSet'],
      ['rbac.authorization.k8s.io/v1', 'Role'],
      ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
      ['policy/v1', 'PodDisruptionBudget'],
    ];
    const owners = new Map<string, Promise<boolean>>();
    const ownerExists = (ref: { apiVersion: string; kind: string; name: string; uid: string }) => {
      const key = `${ref.apiVersion}/${ref.kind}/${ref.name}/${ref.uid}`;
      let p = owners.get(key);
      if (!p) {
        p = this.objects
          .read({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ns } })
          .then((o) => o.metadata?.uid === ref.uid)
          .catch((err) => {
            if (isNotFound(err)) return false;
            throw err;
          });
        owners.set(key, p);
      }
      return p;
    };
    for (const [apiVersion, kind] of kinds) {
      const list = await this.objects.list<KubernetesObject>(
        apiVersion,
        kind,
        ns,
        undefined,
        undefined,
        undefined,
        undefined,
        SELECTOR,
      );
      for (const o of list.items) {
        const refs = o.metadata?.ownerReferences ?? [];
        if (refs.length === 0 || o.metadata?.deletionTimestamp) continue;
        const alive = await Promise.all(refs.map(ownerExists));
        if (alive.some(Boolean)) continue;
        this.log(
          `garbage collector: deleting ${kind} ${o.metadata?.name} (owner ${refs[0]?.kind} ${refs[0]?.name} is gone)`,
        );
        await this.objects
          .delete(
            { apiVersion, kind, metadata: { name: o.metadata?.name ?? '', namespace: ns } },
            undefined,
            undefined,
            undefined,
            undefined,
            'Background',
          )
          .catch((err) => {
            if (!isNotFound(err)) throw err;
          });
        this.gcDue = true;
      }
    }
  }
}

function deployCondition(d: V1Deployment, type: string, ok: boolean, reasonTrue: string, reasonFalse: string) {
  const status = ok ? 'True' : 'False';
  const prev = d.status?.conditions?.find((c) => c.type === type);
  const reason = ok ? reasonTrue : reasonFalse;
  const same = prev?.status === status && prev.reason === reason;
  const now = isoSeconds(new Date());
  // The client returns times as Date objects; the API wants RFC 3339 seconds.
  const time = (t: Date | undefined) => (t ? isoSeconds(new Date(t)) : now);
  return {
    type,
    status,
    reason,
    message: '',
    lastUpdateTime: same ? time(prev?.lastUpdateTime) : now,
    lastTransitionTime: prev?.status === status ? time(prev?.lastTransitionTime) : now,
  };
}

/** JSON with every timestamp at second precision, to compare what the client read with what we would write. */
const normalized = (v: unknown) =>
  JSON.stringify(v, (_k, x) =>
    typeof x === 'string' && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(x) ? isoSeconds(new Date(x)) : x,
  );

function pick(data: Map<string, Buffer>, items: Array<{ key: string; path: string }> | undefined): Map<string, Buffer> {
  if (!items) return data;
  const out = new Map<string, Buffer>();
  for (const i of items) {
    const v = data.get(i.key);
    if (v !== undefined) out.set(i.path, v);
  }
  return out;
}

/**
 * The kubelet's atomic writer: the files live in a timestamped directory, `..data` points at it, and each
 * top-level name is a symlink through `..data`; an update swaps `..data` with one rename, so a reader never
 * sees half a change.
 */
export function writeAtomically(dir: string, files: Map<string, Buffer>) {
  mkdirSync(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${randomBytes(3).toString('hex')}`;
  const stampDir = join(dir, stamp);
  for (const [rel, content] of files) {
    mkdirSync(dirname(join(stampDir, rel)), { recursive: true });
    writeFileSync(join(stampDir, rel), content, { mode: 0o644 });
  }
  mkdirSync(stampDir, { recursive: true });
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  const tops = new Set([...files.keys()].map((k) => k.split('/')[0] ?? k));
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('..')) {
      if (entry !== '..data' && entry !== stamp) rmSync(join(dir, entry), { recursive: true, force: true });
    } else if (!tops.has(entry)) unlinkSync(join(dir, entry)); // a symlink into the old generation
  }
  for (const top of tops) if (!existsSync(join(dir, top))) symlinkSync(join('..data', top), join(dir, top));
}

/** Outside the runner's directory tree, which postgres (pgbouncer's user) cannot traverse. */
const pgbouncerDir = (sb: Sandbox) => join(tmpdir(), `mqtt2pg-pgbouncer-${sb.uid.slice(0, 13)}`);

function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
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
