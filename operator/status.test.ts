import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Observation } from './status.ts';
import { computeStatus, conditionChanges, statusChanged, workloadState } from './status.ts';

const base: Observation = {
  generation: 4,
  flushers: 2,
  poolSize: 10,
  workerSelector: 'app.kubernetes.io/instance=p',
  namespace: 'ns',
  workers: { desired: 2, ready: 0, updated: 0, rolledOut: false },
  pgbouncer: { desired: 1, ready: 1, updated: 1, rolledOut: true },
};
const t0 = new Date('2026-01-01T00:00:00.123Z');
const t1 = new Date('2026-01-01T00:05:00Z');
const cond = (s: ReturnType<typeof computeStatus>, type: string) => s.conditions?.find((c) => c.type === type);

test('workers not ready: Ready=False with a reason that says where to look', () => {
  const s = computeStatus(undefined, base, t0);
  assert.equal(s.observedGeneration, 4);
  assert.equal(cond(s, 'Ready')?.status, 'False');
  assert.equal(cond(s, 'Ready')?.reason, 'WorkersNotReady');
  assert.match(cond(s, 'Ready')?.message ?? '', /0\/2 worker pods ready.*kubectl logs -n ns/);
  assert.equal(cond(s, 'Progressing')?.status, 'True');
  assert.equal(cond(s, 'Degraded')?.status, 'False');
  assert.equal(cond(s, 'Ready')?.lastTransitionTime, '2026-01-01T00:00:00Z');
  assert.equal(cond(s, 'Ready')?.observedGeneration, 4);
});

test('all ready: Ready=True, Progressing=False', () => {
  const s = computeStatus(undefined, { ...base, workers: { desired: 2, ready: 2, updated: 2, rolledOut: true } }, t0);
  assert.equal(cond(s, 'Ready')?.status, 'True');
  assert.equal(cond(s, 'Progressing')?.status, 'False');
  assert.equal(s.readyReplicas, 2);
  assert.equal(s.replicas, 2);
});

test('a problem: Degraded=True and Ready=False with the same reason', () => {
  const s = computeStatus(
    undefined,
    { ...base, problem: { reason: 'SecretNotFound', message: 'Secret "pg" not found' } },
    t0,
  );
  assert.equal(cond(s, 'Degraded')?.status, 'True');
  assert.equal(cond(s, 'Degraded')?.reason, 'SecretNotFound');
  assert.equal(cond(s, 'Ready')?.reason, 'SecretNotFound');
});

test('recomputing an unchanged state is not a change (no status churn)', () => {
  const first = computeStatus(undefined, base, t0);
  const again = computeStatus(first, base, t1);
  assert.equal(statusChanged(first, again), false);
  assert.deepEqual(conditionChanges(first.conditions, again.conditions ?? []), []);
  const stored = { ...first, ingestRate: 12.5, backlog: 3 };
  assert.equal(statusChanged(stored, again), false, 'fields other writers own are ignored');
});

test('a transition keeps the time of conditions that did not change', () => {
  const first = computeStatus(undefined, base, t0);
  const next = computeStatus(first, { ...base, workers: { desired: 2, ready: 2, updated: 2, rolledOut: true } }, t1);
  assert.equal(statusChanged(first, next), true);
  assert.equal(cond(next, 'Ready')?.lastTransitionTime, '2026-01-01T00:05:00Z');
  assert.equal(cond(next, 'Degraded')?.lastTransitionTime, '2026-01-01T00:00:00Z');
  assert.deepEqual(
    conditionChanges(first.conditions, next.conditions ?? []).map((c) => `${c.type}:${c.to}`),
    ['Ready:True', 'Progressing:False'],
  );
});

test('rollout state reads the Deployment and StatefulSet controllers’ status', () => {
  const dep = (status: Record<string, number>, generation = 2) => ({
    kind: 'Deployment',
    metadata: { name: 'd', generation },
    spec: { replicas: 2 },
    status,
  });
  assert.deepEqual(workloadState(dep({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2 })), {
    desired: 2,
    ready: 2,
    updated: 2,
    rolledOut: true,
  });
  assert.equal(
    workloadState(dep({ observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2 }))?.rolledOut,
    false,
  );
  assert.equal(
    workloadState(dep({ observedGeneration: 2, replicas: 3, updatedReplicas: 2, readyReplicas: 2 }))?.rolledOut,
    false,
  );
  const sts = {
    kind: 'StatefulSet',
    metadata: { name: 's', generation: 1 },
    spec: { replicas: 1 },
    status: { observedGeneration: 1, readyReplicas: 1, updatedReplicas: 1, currentRevision: 'a', updateRevision: 'b' },
  };
  assert.equal(workloadState(sts)?.rolledOut, false);
  assert.equal(workloadState({ ...sts, status: { ...sts.status, currentRevision: 'b' } })?.rolledOut, true);
});

test('a pipeline draining before deletion: Ready=False and Progressing=True say what it waits for', () => {
  const message = 'waiting for 2 worker pods to drain their WAL';
  const s = computeStatus(undefined, { ...base, draining: { reason: 'Draining', message } }, t0);
  assert.deepEqual(
    s.conditions?.map((c) => [c.type, c.status, c.reason]),
    [
      ['Ready', 'False', 'Draining'],
      ['Progressing', 'True', 'Draining'],
      ['Degraded', 'False', 'Deleting'],
    ],
  );
  assert.equal(cond(s, 'Ready')?.message, message);
});

test("removed workers' volumes being drained: Progressing=True DrainingRemovedWorkers with the counts; the list goes when done", () => {
  const ready = { ...base, workers: { desired: 1, ready: 1, updated: 1, rolledOut: true } };
  const walDrains = [{ claim: 'wal-p-worker-1', ordinal: 1, job: 'p-drain-1', messagesLeft: 42 }];
  const s = computeStatus(undefined, { ...ready, walDrains }, t0);
  assert.equal(cond(s, 'Ready')?.status, 'True', 'the pipeline ingests meanwhile');
  assert.equal(cond(s, 'Progressing')?.status, 'True');
  assert.equal(cond(s, 'Progressing')?.reason, 'DrainingRemovedWorkers');
  assert.match(cond(s, 'Progressing')?.message ?? '', /wal-p-worker-1 \(42 messages left\)/);
  assert.deepEqual(s.walDrains, walDrains);
  const done = computeStatus(s, { ...ready, walDrains: [] }, t1);
  assert.deepEqual(done.walDrains, [], 'written empty once, so the stored list is replaced');
  assert.equal(cond(done, 'Progressing')?.reason, 'RolloutComplete');
  assert.equal(computeStatus(done, { ...ready, walDrains: [] }, t1).walDrains, undefined, 'then left out');
});
