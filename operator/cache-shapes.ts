// What the operator's caches keep of objects it only reads. A worker pod is ~8 KiB of JSON and several times
// that as JavaScript objects; with a thousand pipelines and their pods that is the largest cache. The
// autoscaler reads a pod's labels, IP, phase, readiness and container ports (autoscale/gather.ts), the
// deletion waits on its existence, and the WAL drains read a drain pod's termination message
// (wal-drainer.ts): the rest (volumes, env, probes, events of the kubelet) is dropped before caching.

import { PIPELINE_LABEL } from './render/meta.ts';
import type { KubeObject } from './runtime/kube.ts';

/**
 * The caches' index: "namespace/pipeline" of an object carrying the pipeline label (children, pods, Jobs,
 * PVCs). A reconcile looks up its pipeline's objects by it instead of scanning every cached object.
 */
export const pipelineOf = (o: KubeObject): string | undefined => {
  const p = o.metadata.labels?.[PIPELINE_LABEL];
  return p === undefined ? undefined : pipelineKey(o.metadata.namespace ?? '', p);
};
export const pipelineKey = (namespace: string, pipeline: string): string => `${namespace}/${pipeline}`;

interface PodLike extends KubeObject {
  spec?: { containers?: Array<{ name: string; ports?: Array<{ name?: string; containerPort: number }> }> };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ state?: { terminated?: { exitCode: number; message?: string; finishedAt?: string } } }>;
  };
}

export function slimPod(obj: KubeObject): KubeObject {
  const pod = obj as PodLike;
  const s = pod.status;
  return {
    ...(pod.apiVersion ? { apiVersion: pod.apiVersion } : {}),
    ...(pod.kind ? { kind: pod.kind } : {}),
    metadata: pod.metadata,
    spec: {
      containers: (pod.spec?.containers ?? []).map((c) => ({ name: c.name, ...(c.ports ? { ports: c.ports } : {}) })),
    },
    status: {
      ...(s?.phase ? { phase: s.phase } : {}),
      ...(s?.podIP ? { podIP: s.podIP } : {}),
      ...(s?.conditions ? { conditions: s.conditions.map((c) => ({ type: c.type, status: c.status })) } : {}),
      ...(s?.containerStatuses
        ? {
            containerStatuses: s.containerStatuses.map((c) => ({
              ...(c.state?.terminated ? { state: { terminated: c.state.terminated } } : {}),
            })),
          }
        : {}),
    },
  };
}
