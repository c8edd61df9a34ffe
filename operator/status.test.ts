import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conditionOf, observation, rolledOut, T0, T1 } from '../test/lib/status-fixtures.ts';
import { computeStatus, conditionChanges, statusChanged, workloadState } from './status.ts';

const base = observation();

test('workers not ready: Ready=False with a reason that says where to look', () => {
  const s = computeStatus(undefined, base, T0);
  assert.equal(s.observedGeneration, 4);
  assert.equal(conditionOf(s, 'Ready')?.status, 'False');
  assert.equal(conditionOf(s, 'Ready')?.reason, 'WorkersNotReady');
  assert.match(conditionOf(s, 'Ready')?.message ?? '', /0\/2 worker pods ready.*kubectl logs -n ns/);
  assert.equal(conditionOf(s, 'Progressing')?.status, 'True');
  assert.equal(conditionOf(s, 'Degraded')?.status, 'False');
  assert.equal(conditionOf(s, 'Ready')?.lastTransitionTime, '2026-01-01T00:00:00Z');
  assert.equal(conditionOf(s, 'Ready')?.observedGeneration, 4);
});

test('all ready: Ready=True, Progressing=False', () => {
  const s = computeStatus(undefined, { ...base, workers: rolledOut(2) }, T0);
  assert.equal(conditionOf(s, 'Ready')?.status, 'True');
  assert.equal(conditionOf(s, 'Progressing')?.status, 'False');
  assert.equal(s.readyReplicas, 2);
  assert.equal(s.replicas, 2);
});

test('a problem: Degraded=True and Ready=False with the same reason', () => {
  const s = computeStatus(
    undefined,
    { ...base, problem: { reason: 'SecretNotFound', message: 'Secret "pg" not found' } },
    T0,
  );
  assert.equal(conditionOf(s, 'Degraded')?.status, 'True');
  assert.equal(conditionOf(s, 'Degraded')?.reason, 'SecretNotFound');
  assert.equal(conditionOf(s, 'Ready')?.reason, 'SecretNotFound');
});

test('recomputing an unchanged state is not a change (no status churn)', () => {
  const first = computeStatus(undefined, base, T0);
  const again = computeStatus(first, base, T1);
  assert.equal(statusChanged(first, again), false);
  assert.deepEqual(conditionChanges(first.conditions, again.conditions ?? []), []);
  const stored = { ...first, ingestRate: 12.5, backlog: 3 };
  assert.equal(statusChanged(stored, again), false, 'fields other writers own are ignored');
});

test('a transition keeps the time of conditions that did not change', () => {
  const first = computeStatus(undefined, base, T0);
  const next = computeStatus(first, { ...base, workers: rolledOut(2) }, T1);
  assert.equal(statusChanged(first, next), true);
  assert.equal(conditionOf(next, 'Ready')?.lastTransitionTime, '2026-01-01T00:05:00Z');
  assert.equal(conditionOf(next, 'Degraded')?.lastTransitionTime, '2026-01-01T00:00:00Z');
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
  const s = computeStatus(undefined, { ...base, draining: { reason: 'Draining', message } }, T0);
  assert.deepEqual(
    s.conditions?.map((c) => [c.type, c.status, c.reason]),
    [
      ['Ready', 'False', 'Draining'],
      ['Progressing', 'True', 'Draining'],
      ['Degraded', 'False', 'Deleting'],
    ],
  );
  assert.equal(conditionOf(s, 'Ready')?.message, message);
});

test("removed workers' volumes being drained: Progressing=True DrainingRemovedWorkers with the counts; the list goes when done", () => {
  const ready = { ...base, workers: rolledOut(1) };
  const walDrains = [{ claim: 'wal-p-worker-1', ordinal: 1, job: 'p-drain-1', messagesLeft: 42 }];
  const s = computeStatus(undefined, { ...ready, walDrains }, T0);
  assert.equal(conditionOf(s, 'Ready')?.status, 'True', 'the pipeline ingests meanwhile');
  assert.equal(conditionOf(s, 'Progressing')?.status, 'True');
  assert.equal(conditionOf(s, 'Progressing')?.reason, 'DrainingRemovedWorkers');
  assert.match(conditionOf(s, 'Progressing')?.message ?? '', /wal-p-worker-1 \(42 messages left\)/);
  assert.deepEqual(s.walDrains, walDrains);
  const done = computeStatus(s, { ...ready, walDrains: [] }, T1);
  assert.deepEqual(done.walDrains, [], 'written empty once, so the stored list is replaced');
  assert.equal(conditionOf(done, 'Progressing')?.reason, 'RolloutComplete');
  assert.equal(computeStatus(done, { ...ready, walDrains: [] }, T1).walDrains, undefined, 'then left out');
});
