import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  claimOrdinal,
  type DrainInput,
  drainSummary,
  type JobView,
  parseDrainReport,
  planDrains,
} from './wal-drain.ts';

const claim = (ordinal: number, deleting = false) => ({ name: `wal-p-worker-${ordinal}`, ordinal, deleting });
const job = (ordinal: number, o: Partial<JobView> = {}): JobView => ({
  name: `p-drain-${ordinal}`,
  ordinal,
  claim: `wal-p-worker-${ordinal}`,
  complete: false,
  failed: false,
  deleting: false,
  attempts: [],
  ...o,
});
const input = (o: Partial<DrainInput>): DrainInput => ({
  keep: 1,
  workerPods: new Set(),
  claims: [],
  jobs: [],
  previous: undefined,
  jobName: (n) => `p-drain-${n}`,
  ...o,
});

test('claim names: only <template>-<pipeline>-worker-<ordinal> is one of ours', () => {
  assert.equal(claimOrdinal('wal-p-worker-2', 'wal', 'p-worker'), 2);
  assert.equal(claimOrdinal('wal-p-worker-10', 'wal', 'p-worker'), 10);
  assert.equal(claimOrdinal('wal-p-worker-02', 'wal', 'p-worker'), undefined);
  assert.equal(claimOrdinal('wal-p-worker-x', 'wal', 'p-worker'), undefined);
  assert.equal(claimOrdinal('wal-pp-worker-1', 'wal', 'p-worker'), undefined);
  assert.equal(claimOrdinal('data-p-worker-1', 'wal', 'p-worker'), undefined);
});

test('scaled 3 → 1: a Job per removed volume once its pod is gone; the kept ordinal is left alone', () => {
  const plan = planDrains(input({ keep: 1, workerPods: new Set([0, 2]), claims: [claim(0), claim(1), claim(2)] }));
  assert.deepEqual(plan.createJobs, [1]);
  assert.deepEqual(plan.deleteJobs, []);
  assert.deepEqual(plan.deleteClaims, []);
  assert.deepEqual(
    plan.status.map((s) => [s.claim, s.job, s.message]),
    [
      ['wal-p-worker-1', 'p-drain-1', 'draining with Job p-drain-1'],
      ['wal-p-worker-2', undefined, 'waiting for worker pod ordinal 2 to stop before its volume is drained'],
    ],
  );
});

test('a failed attempt shows what the WAL still holds and why; a new report replaces the old count', () => {
  const attempts = [
    { exitCode: 1, left: 900, error: 'could not finish: PostgreSQL down', finishedAt: '2026-01-01T00:00:01Z' },
    { exitCode: 1, left: 700, error: 'could not finish: still down', finishedAt: '2026-01-01T00:00:09Z' },
  ];
  const plan = planDrains(input({ claims: [claim(1)], jobs: [job(1, { attempts })] }));
  assert.deepEqual(plan.createJobs, []);
  assert.deepEqual(plan.status, [
    {
      claim: 'wal-p-worker-1',
      ordinal: 1,
      job: 'p-drain-1',
      messagesLeft: 700,
      failedAttempts: 2,
      message: 'attempt 2 stopped short: could not finish: still down; the Job retries',
    },
  ]);
  assert.match(drainSummary(plan.status), /^1 WAL volume of removed workers .* wal-p-worker-1 \(700 messages left\)/);
  const long = planDrains(
    input({
      claims: [claim(1)],
      jobs: [job(1, { attempts: [{ exitCode: 1, error: 'x'.repeat(5000), finishedAt: 'a' }] })],
    }),
  );
  assert.ok((long.status[0]?.message?.length ?? 0) < 4096, 'within the schema maxLength');
});

test('a Job out of attempts is replaced, and the count it reported stays in the status meanwhile', () => {
  const failed = job(1, { failed: true, attempts: [{ exitCode: 1, left: 5, finishedAt: 'a' }] });
  const first = planDrains(input({ claims: [claim(1)], jobs: [failed] }));
  assert.deepEqual(first.deleteJobs, ['p-drain-1']);
  assert.match(first.status[0]?.message ?? '', /ran out of attempts; starting a new one; last attempt: exit code 1/);
  const next = planDrains(input({ claims: [claim(1)], previous: first.status }));
  assert.deepEqual(next.createJobs, [1]);
  assert.equal(next.status[0]?.messagesLeft, 5);
});

test('a complete Job releases its volume: the Job and the PVC go, nothing is left in the status', () => {
  const done = job(2, { complete: true, attempts: [{ exitCode: 0, left: 0, finishedAt: 'a' }] });
  const plan = planDrains(input({ claims: [claim(0), claim(2)], jobs: [done] }));
  assert.deepEqual(plan.deleteJobs, ['p-drain-2']);
  assert.deepEqual(plan.deleteClaims, ['wal-p-worker-2']);
  assert.deepEqual(plan.status, []);
});

test('scaled back up before the drain finished: the running Job goes, the worker drains its own volume', () => {
  const plan = planDrains(input({ keep: 3, claims: [claim(0), claim(1), claim(2)], jobs: [job(2)] }));
  assert.deepEqual(plan.deleteJobs, ['p-drain-2']);
  assert.deepEqual(plan.createJobs, []);
  assert.deepEqual(plan.deleteClaims, []);
  assert.deepEqual(plan.status, []);
});

test('being deleted (keep 0): every volume is drained; one already being deleted and a Job without its volume are not', () => {
  const plan = planDrains(input({ keep: 0, claims: [claim(0), claim(1, true)], jobs: [job(5)] }));
  assert.deepEqual(plan.createJobs, [0]);
  assert.deepEqual(plan.deleteJobs, ['p-drain-5']);
  assert.deepEqual(
    plan.status.map((s) => s.claim),
    ['wal-p-worker-0'],
  );
});

test('a termination message is read only as a drain report', () => {
  assert.deepEqual(parseDrainReport('{"left":12,"error":"x","rows":3}'), { left: 12, error: 'x' });
  assert.deepEqual(parseDrainReport('{"left":-1}'), {});
  assert.deepEqual(parseDrainReport('killed by SIGKILL'), {});
  assert.deepEqual(parseDrainReport(undefined), {});
});
