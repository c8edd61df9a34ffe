// A pod's sandbox: what the kubelet keeps for one Pod while it runs it: its address, its directory, its
// identity (the ServiceAccount token as a kubeconfig) and the state of each container.

import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, type WriteStream, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { type Cluster, codeOf } from './context.ts';

export interface Termination {
  exitCode: number;
  signal?: string;
  reason: string;
  /** The content of the container's terminationMessagePath, as the kubelet reports it. */
  message?: string;
  startedAt: Date;
  finishedAt: Date;
}

export interface ContainerRun {
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
  /** Ended for good: the pod's restartPolicy does not restart it (Never, or OnFailure after exit 0). */
  done?: boolean;
  waiting?: { reason: string; message: string };
  log?: WriteStream;
  tail: string[];
  /** Bumped on every start: probe loops of a previous process stop. */
  epoch: number;
}

export interface Sandbox {
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

/** A sandbox for `pod` at `ip`, its directory under <dir>/pods named so that two incarnations never share it. */
export function newSandbox(dir: string, namespace: string, pod: V1Pod, ip: string): Sandbox {
  const name = pod.metadata?.name ?? '';
  const uid = pod.metadata?.uid ?? '';
  return {
    key: `${namespace}/${name}`,
    uid,
    namespace,
    name,
    ip,
    dir: join(dir, 'pods', `${namespace}_${name}_${uid.slice(0, 8)}`),
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
}

/** Pod addresses: all of 127/8 is local on Linux, so every pod can bind its container ports on its own IP. */
export class IpPool {
  private readonly used = new Set<string>();

  /** The lowest 127.0.0.x (x ≥ 2) where every container port of the pod is free. */
  async allocate(ports: number[]): Promise<string> {
    const free = (host: string, port: number) =>
      new Promise<boolean>((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
      });
    for (let x = 2; x < 255; x++) {
      const ip = `127.0.0.${x}`;
      if (this.used.has(ip)) continue;
      let ok = true;
      for (const p of ports) if (!(await free(ip, p))) ok = false;
      if (ok) {
        this.used.add(ip);
        return ip;
      }
    }
    throw new Error(
      `no 127.0.0.x address has ports ${ports.join(', ')} free: a process listening on 0.0.0.0 holds one of them (ss -ltnp)`,
    );
  }

  release(ip: string) {
    this.used.delete(ip);
  }
}

/** The ServiceAccount token the pod would have mounted, as a kubeconfig the worker's client finds. */
export async function writeKubeconfig(cl: Cluster, sb: Sandbox) {
  const spec = sb.pod.spec;
  if (spec?.automountServiceAccountToken === false) return;
  const sa = spec?.serviceAccountName ?? 'default';
  let token: string;
  try {
    const tr = await cl.core.createNamespacedServiceAccountToken({
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
    cl.log(`pod ${sb.name}: no token for ServiceAccount ${sa} (${codeOf(err) ?? err}); no KUBECONFIG`);
    return;
  }
  const cluster = cl.kc.getCurrentCluster();
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
  writeFileSync(kubeconfigFile(sb), yaml, { mode: 0o600 });
}

export const kubeconfigFile = (sb: Sandbox) => join(sb.dir, 'kubeconfig');
export const logDir = (sb: Sandbox) => join(sb.dir, 'logs');
export const rootOf = (sb: Sandbox, container: string) => join(sb.dir, 'rootfs', container);
/** Outside the runner's directory tree, which postgres (pgbouncer's user) cannot traverse. */
export const pgbouncerDir = (sb: Sandbox) => join(tmpdir(), `mqtt2pg-pgbouncer-${sb.uid.slice(0, 13)}`);

/** emptyDirs and the pod's volumes go with the pod; PVCs (under pvcs/) and the logs stay. */
export function removeSandboxDirs(sb: Sandbox) {
  rmSync(join(sb.dir, 'volumes'), { recursive: true, force: true });
  rmSync(join(sb.dir, 'rootfs'), { recursive: true, force: true });
  rmSync(kubeconfigFile(sb), { force: true });
  rmSync(pgbouncerDir(sb), { recursive: true, force: true });
}

/** The downward API: a field path of the pod, as env (fieldRef) and downwardAPI volumes see it. */
export function fieldRef(sb: Sandbox, path: string): string {
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
