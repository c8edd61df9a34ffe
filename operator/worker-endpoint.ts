// Where the operator reaches a worker pod: which pods of a pipeline are worth asking, and the address and port
// of one of the worker's two listeners (api/contract.ts WORKER_PORTS). The one place both the autoscaler's
// /metrics and the conditions' /subsystems are found (operator/worker-poll.ts asks both).

import { WORKER_PORTS } from '../api/contract.ts';
import { PIPELINE_LABEL } from './render/meta.ts';
import type { KubeObject } from './runtime/kube.ts';

export interface Endpoint {
  host: string;
  port: number;
}

export interface PodObject extends KubeObject {
  spec?: { containers?: Array<{ name: string; ports?: Array<{ name?: string; containerPort: number }> }> };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
  };
}

export type WorkerListener = keyof typeof WORKER_PORTS;

/** Pods that run a process worth asking: Running, with an IP, not on their way out. */
export const running = (p: PodObject): boolean =>
  p.status?.phase === 'Running' && !!p.status.podIP && !p.metadata.deletionTimestamp;

/** A pipeline's pods of one component (worker, pgbouncer), in any phase. */
export function podsOf(
  pods: PodObject[],
  namespace: string,
  pipeline: string,
  component: 'worker' | 'pgbouncer',
): PodObject[] {
  return pods.filter(
    (pod) =>
      pod.metadata.namespace === namespace &&
      pod.metadata.labels?.[PIPELINE_LABEL] === pipeline &&
      pod.metadata.labels?.['app.kubernetes.io/component'] === component,
  );
}

/**
 * A worker pod's listener: its podIP and the container port of that name (the operator renders them;
 * a pod from an edited template may move them), else the contract's default port. Undefined without an IP.
 */
export function workerEndpoint(pod: PodObject, listener: WorkerListener): Endpoint | undefined {
  if (!pod.status?.podIP) return undefined;
  const { name, port } = WORKER_PORTS[listener];
  const named = pod.spec?.containers?.flatMap((c) => c.ports ?? []).find((p) => p.name === name);
  return { host: pod.status.podIP, port: named?.containerPort ?? port };
}

/** The URL of a path on an endpoint; an IPv6 pod IP in brackets. */
export function endpointUrl(at: Endpoint, path: string): string {
  return `http://${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}${path}`;
}
