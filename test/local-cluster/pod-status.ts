// A Pod's status as a kubelet reports it (phase, IPs, conditions, container states), computed from the
// sandbox, and written to the API server only when it changed: the operator and the Deployment/StatefulSet
// controllers read readiness from it.

import type { V1ContainerStatus, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import { type Cluster, isNotFound, isoSeconds, MERGE_PATCH } from './context.ts';
import type { ContainerRun, Sandbox, Termination } from './sandbox.ts';

/** What the status is computed from: a sandbox, or plain data shaped like one. */
export type PodState = Pick<Sandbox, 'ip' | 'startTime' | 'setupError' | 'conditionTimes'> & {
  containers: Array<
    Pick<
      ContainerRun,
      'spec' | 'startedAt' | 'restartCount' | 'starts' | 'started' | 'ready' | 'last' | 'waiting' | 'done'
    > & {
      child?: { pid?: number | undefined } | undefined;
    }
  >;
};

// The client types timestamps as Date but sends what it is given; the API wants RFC 3339 strings.
const time = (d: Date) => isoSeconds(d) as unknown as Date;

/**
 * The status at `now`. A condition's lastTransitionTime is the time it first took its current value, kept in
 * `pod.conditionTimes` (the one thing this updates), so an unchanged pod yields an unchanged status.
 */
export function podStatus(pod: PodState, now: Date): V1PodStatus {
  const nowText = isoSeconds(now);
  const running = pod.containers.some((c) => c.child);
  const allReady = pod.containers.every((c) => c.ready && c.child);
  const cond = (type: string, ok: boolean, reason?: string): V1PodCondition => {
    const status = ok ? 'True' : 'False';
    const k = `${type}=${status}`;
    if (!pod.conditionTimes.has(k)) {
      pod.conditionTimes.delete(`${type}=${ok ? 'False' : 'True'}`);
      pod.conditionTimes.set(k, nowText);
    }
    return {
      type,
      status,
      lastTransitionTime: pod.conditionTimes.get(k) as unknown as Date,
      ...(reason && !ok ? { reason } : {}),
    };
  };
  const containerStatuses: V1ContainerStatus[] = pod.containers.map((c) => {
    const term = (t: Termination) => ({
      exitCode: t.exitCode,
      reason: t.reason,
      ...(t.message !== undefined ? { message: t.message } : t.signal ? { message: `killed by ${t.signal}` } : {}),
      startedAt: time(t.startedAt),
      finishedAt: time(t.finishedAt),
    });
    const state = c.child
      ? { running: { startedAt: time(c.startedAt ?? now) } }
      : c.done && c.last
        ? { terminated: term(c.last) }
        : {
            waiting: c.waiting ?? {
              reason: pod.setupError ? 'ContainerCreating' : 'PodInitializing',
              message: pod.setupError ?? '',
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
      lastState: c.last && !c.done ? { terminated: term(c.last) } : {},
    };
  });
  // Every container ended for good (restartPolicy Never or OnFailure): the pod is finished.
  const finished = pod.containers.length > 0 && pod.containers.every((c) => c.done && c.last);
  const phase = finished
    ? pod.containers.every((c) => c.last?.exitCode === 0)
      ? 'Succeeded'
      : 'Failed'
    : running || pod.containers.some((c) => c.starts > 0)
      ? 'Running'
      : 'Pending';
  return {
    phase,
    hostIP: '127.0.0.1',
    hostIPs: [{ ip: '127.0.0.1' }],
    podIP: pod.ip,
    podIPs: [{ ip: pod.ip }],
    startTime: time(pod.startTime),
    conditions: [
      cond('PodReadyToStartContainers', !pod.setupError),
      cond('Initialized', true),
      cond('Ready', allReady, finished ? 'PodCompleted' : 'ContainersNotReady'),
      cond('ContainersReady', allReady, finished ? 'PodCompleted' : 'ContainersNotReady'),
      cond('PodScheduled', true),
    ],
    containerStatuses,
  };
}

/** Patches the Pod's status when it differs from the last one written; a Pod already gone is no error. */
export async function writePodStatus(cl: Cluster, sb: Sandbox) {
  const status = podStatus(sb, new Date());
  const text = JSON.stringify(status);
  if (text === sb.lastStatus) return;
  try {
    const updated = await cl.core.patchNamespacedPodStatus(
      { name: sb.name, namespace: sb.namespace, body: { status } },
      MERGE_PATCH,
    );
    sb.lastStatus = text;
    sb.pod = updated;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
