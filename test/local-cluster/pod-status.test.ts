// The Pod status the kubelet reports, which the controllers and the operator read readiness from.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1PodStatus } from '@kubernetes/client-node';
import { type PodState, podStatus } from './pod-status.ts';

const t0 = new Date('2025-01-01T00:00:00.000Z');
const at = (s: number) => new Date(t0.getTime() + s * 1000);

function state(over: Partial<PodState['containers'][number]> = {}, setupError?: string): PodState {
  return {
    ip: '127.0.0.7',
    startTime: t0,
    conditionTimes: new Map(),
    ...(setupError ? { setupError } : {}),
    containers: [
      {
        spec: { name: 'worker', image: 'mqtt2pg:local' },
        restartCount: 0,
        starts: 0,
        started: false,
        ready: false,
        ...over,
      },
    ],
  };
}
const condition = (s: V1PodStatus, type: string) => s.conditions?.find((c) => c.type === type);

test('a pod whose volumes cannot be written is Pending, not ready, and says why', () => {
  const s = podStatus(state({}, 'MountVolume.SetUp failed for volume "config"'), t0);
  assert.equal(s.phase, 'Pending');
  assert.equal(s.podIP, '127.0.0.7');
  assert.equal(condition(s, 'PodReadyToStartContainers')?.status, 'False');
  assert.deepEqual(condition(s, 'Ready'), {
    type: 'Ready',
    status: 'False',
    lastTransitionTime: '2025-01-01T00:00:00Z',
    reason: 'ContainersNotReady',
  });
  assert.deepEqual(s.containerStatuses?.[0]?.state, {
    waiting: { reason: 'ContainerCreating', message: 'MountVolume.SetUp failed for volume "config"' },
  });
});

test('a running, ready container makes the pod Ready; transition times move only on a change', () => {
  const pod = state({ started: true, ready: false, starts: 1, startedAt: at(1), child: { pid: 4242 } });
  podStatus(pod, at(1));
  const first = pod.containers[0];
  if (first) first.ready = true;
  const ready = podStatus(pod, at(5));
  assert.equal(ready.phase, 'Running');
  assert.equal(condition(ready, 'Ready')?.status, 'True');
  assert.equal(condition(ready, 'Ready')?.lastTransitionTime, '2025-01-01T00:00:05Z');
  assert.equal(condition(ready, 'PodScheduled')?.lastTransitionTime, '2025-01-01T00:00:01Z');
  const c = ready.containerStatuses?.[0];
  assert.equal(c?.containerID, 'local://4242');
  assert.equal(c?.ready, true);
  assert.deepEqual(c?.state, { running: { startedAt: '2025-01-01T00:00:01Z' } });
  const later = podStatus(pod, at(60));
  assert.deepEqual(later, ready, 'an unchanged pod reports an unchanged status (no needless write)');
});

test('a crashed container: the pod stays Running, not ready, with the last termination and the back-off', () => {
  const s = podStatus(
    state({
      starts: 2,
      restartCount: 1,
      last: { exitCode: 137, signal: 'SIGKILL', reason: 'Error', startedAt: at(1), finishedAt: at(3) },
      waiting: { reason: 'CrashLoopBackOff', message: 'back-off 1000 ms restarting failed container' },
    }),
    at(3),
  );
  assert.equal(s.phase, 'Running');
  assert.equal(condition(s, 'Ready')?.status, 'False');
  const c = s.containerStatuses?.[0];
  assert.equal(c?.restartCount, 1);
  assert.equal(c?.containerID, undefined);
  assert.equal(c?.state?.waiting?.reason, 'CrashLoopBackOff');
  assert.deepEqual(c?.lastState, {
    terminated: {
      exitCode: 137,
      reason: 'Error',
      message: 'killed by SIGKILL',
      startedAt: '2025-01-01T00:00:01Z',
      finishedAt: '2025-01-01T00:00:03Z',
    },
  });
});

test('restartPolicy Never: an ended container is terminated with its termination message, and the pod finished', () => {
  const report = '{"left":12,"error":"could not finish"}';
  const ended = (exitCode: number) =>
    podStatus(
      state({
        starts: 1,
        done: true,
        last: {
          exitCode,
          reason: exitCode === 0 ? 'Completed' : 'Error',
          message: report,
          startedAt: at(1),
          finishedAt: at(4),
        },
      }),
      at(4),
    );
  const failed = ended(1);
  assert.equal(failed.phase, 'Failed');
  assert.equal(condition(failed, 'Ready')?.reason, 'PodCompleted');
  assert.deepEqual(failed.containerStatuses?.[0]?.state, {
    terminated: {
      exitCode: 1,
      reason: 'Error',
      message: report,
      startedAt: '2025-01-01T00:00:01Z',
      finishedAt: '2025-01-01T00:00:04Z',
    },
  });
  assert.deepEqual(failed.containerStatuses?.[0]?.lastState, {});
  assert.equal(ended(0).phase, 'Succeeded');
});
