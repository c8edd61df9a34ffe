// The kubelet: for every Pod bound to this node, a sandbox with its volumes and identity, its containers
// started (and restarted with back-off), its status reported; on deletion, graceful termination (SIGTERM,
// the grace period, SIGKILL) and then the Pod object's removal, as a real kubelet finishes a deletion.

import { mkdirSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import { killContainer, startContainer } from './containers.ts';
import { type Cluster, codeOf, isNotFound, NODE_NAME } from './context.ts';
import { writePodStatus } from './pod-status.ts';
import { startProbes } from './probes.ts';
import { IpPool, logDir, newSandbox, removeSandboxDirs, type Sandbox, writeKubeconfig } from './sandbox.ts';
import { writeVolumes } from './volumes.ts';

export interface PodProcessInfo {
  namespace: string;
  name: string;
  uid: string;
  ip: string;
  dir: string;
  containers: Array<{ name: string; pid?: number; restartCount: number; ready: boolean }>;
}

export class Kubelet {
  private readonly cl: Cluster;
  private readonly sandboxes = new Map<string, Sandbox>();
  private readonly ips = new IpPool();

  constructor(cl: Cluster) {
    this.cl = cl;
  }

  /** Brings the node in line with the namespace's Pods; `volumesDirty` when a ConfigMap or Secret changed. */
  async sync(pods: V1Pod[], volumesDirty: boolean) {
    const seen = new Set<string>();
    for (const pod of pods) {
      if (pod.spec?.nodeName !== NODE_NAME) continue;
      seen.add(`${this.cl.o.namespace}/${pod.metadata?.name}`);
      await this.syncPod(pod, volumesDirty);
    }
    // Pods force-deleted from the API (grace 0) or gone while we were down: stop their processes now.
    for (const sb of [...this.sandboxes.values()]) {
      if (!seen.has(sb.key) && !sb.terminating) this.terminateInBackground(sb, 0, false);
    }
  }

  /** Stops every pod's processes (SIGTERM, then SIGKILL after graceMs); the Pod objects stay. */
  async stopAll(graceMs: number) {
    await Promise.all(
      [...this.sandboxes.values()].map(async (sb) => {
        sb.terminating = true;
        await Promise.all(sb.containers.map((c) => killContainer(c, graceMs)));
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
    const sb = this.sandboxes.get(`${this.cl.o.namespace}/${podName}`);
    const c = sb?.containers.find((x) => container === undefined || x.spec.name === container);
    if (!c?.child?.pid || c.child.exitCode !== null || c.child.signalCode !== null) return false;
    process.kill(-c.child.pid, signal);
    return true;
  }

  private async syncPod(pod: V1Pod, volumesDirty: boolean) {
    const key = `${this.cl.o.namespace}/${pod.metadata?.name ?? ''}`;
    let sb = this.sandboxes.get(key);
    if (sb && sb.uid !== (pod.metadata?.uid ?? '')) {
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
    } else {
      sb.pod = pod;
      if (volumesDirty && !sb.setupError) await writeVolumes(this.cl, sb).catch(() => {});
    }
    if (sb.setupError) {
      // Retried on every sync, as the kubelet retries a mount whose ConfigMap or Secret is missing.
      try {
        await writeVolumes(this.cl, sb);
        sb.setupError = undefined;
      } catch (err) {
        sb.setupError = (err as Error).message;
      }
    }
    if (!sb.setupError && !sb.terminating) {
      for (const c of sb.containers) {
        if (c.child || c.done) continue;
        const wait = c.backoffUntil - Date.now();
        if (wait > 0) this.cl.later(wait);
        else if (await startContainer(this.cl, sb, c)) startProbes(this.cl, sb, c);
      }
    }
    await writePodStatus(this.cl, sb);
  }

  private async createSandbox(pod: V1Pod): Promise<Sandbox> {
    const ports = (pod.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
    const ip = await this.ips.allocate(ports);
    const sb = newSandbox(this.cl.o.dir, this.cl.o.namespace, pod, ip);
    mkdirSync(logDir(sb), { recursive: true });
    this.sandboxes.set(sb.key, sb);
    this.cl.log(`pod ${sb.name} (${sb.uid.slice(0, 8)}) gets ${ip}`);
    try {
      await writeVolumes(this.cl, sb);
      await writeKubeconfig(this.cl, sb);
    } catch (err) {
      sb.setupError = (err as Error).message;
      this.cl.log(`pod ${sb.name}: ${sb.setupError}`);
    }
    return sb;
  }

  private terminateInBackground(sb: Sandbox, graceMs: number, deleteFromApi: boolean) {
    this.terminate(sb, graceMs, deleteFromApi).catch((err) => {
      // The sandbox is gone; the Pod object, still marked for deletion, is removed by a later sync.
      this.cl.log(`pod ${sb.name}: finishing the deletion failed (retried): ${(err as Error).message}`);
      this.cl.later(1000);
    });
  }

  /** Graceful deletion: stop the containers, then (if the Pod object still exists) remove it from the API. */
  private async terminate(sb: Sandbox, graceMs: number, deleteFromApi: boolean) {
    sb.terminating = true;
    this.cl.log(`pod ${sb.name}: terminating (grace ${graceMs} ms)`);
    await Promise.all(sb.containers.map((c) => killContainer(c, graceMs)));
    removeSandboxDirs(sb);
    this.ips.release(sb.ip);
    if (this.sandboxes.get(sb.key) === sb) this.sandboxes.delete(sb.key);
    this.cl.kick();
    if (deleteFromApi) await this.deletePodNow(sb.pod);
  }

  /** The kubelet's last word on a deleted Pod: grace 0, and only this incarnation (uid precondition). */
  private async deletePodNow(pod: V1Pod) {
    try {
      await this.cl.core.deleteNamespacedPod({
        name: pod.metadata?.name ?? '',
        namespace: this.cl.o.namespace,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid ?? '' } },
      });
    } catch (err) {
      if (!isNotFound(err) && codeOf(err) !== 409) throw err;
    }
  }
}
