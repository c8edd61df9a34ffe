// Conditions per subsystem (operator/subsystem-conditions.ts), from the worker pods' health reports, as
// computeStatus (operator/status.ts) puts them in the status. The main conditions: status.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Condition } from '../api/types.ts';
import type { WorkerHealthReport } from '../api/worker-health.ts';
import { conditionOf, observation, rolledOut, T0, T1 } from '../test/lib/status-fixtures.ts';
import { computeStatus, statusChanged } from './status.ts';
import {
  blockReason,
  describeCode,
  SUBSYSTEM_CONDITIONS,
  subsystemEvent,
  type WorkerHealth,
} from './subsystem-conditions.ts';

const healthy: WorkerHealthReport = {
  instance: 'p-worker-0',
  paused: false,
  broker: { connected: true, url: 'mqtt://broker:1883' },
  database: { writable: true },
  deadLetters: { configured: true, available: true, target: 's3://dlq/p/', pending: 0 },
  wal: { messages: 10, bytes: 1000, sizeLimitBytes: 1 << 30, backpressure: false, volumeLow: false },
};
/** A worker pod's report: `healthy` with some subsystems' fields replaced. */
type Patch = { [K in keyof WorkerHealthReport]?: Partial<WorkerHealthReport[K]> };
const report = (patch: Patch = {}, pod = 'p-worker-0'): WorkerHealth => ({
  pod,
  report: {
    ...healthy,
    instance: pod,
    paused: patch.paused ?? healthy.paused,
    broker: { ...healthy.broker, ...patch.broker },
    database: { ...healthy.database, ...patch.database },
    deadLetters: { ...healthy.deadLetters, ...patch.deadLetters },
    wal: { ...healthy.wal, ...patch.wal },
  },
});
const now = Date.parse('2026-01-01T12:00:00Z');
type Status = ReturnType<typeof computeStatus>;
/** The status of a pipeline with two ready workers whose pods report `health` (undefined: not polled yet). */
const subsystems = (
  health: WorkerHealth[] | undefined,
  { paused = false, previous, at = T0 }: { paused?: boolean; previous?: Status; at?: Date } = {},
) => computeStatus(previous, observation({ workers: rolledOut(2), subsystems: { paused, health, now } }), at);

const cases: Array<{
  name: string;
  health: WorkerHealth[] | undefined;
  paused?: boolean;
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message?: RegExp;
  event?: 'Normal' | 'Warning';
}> = [
  { name: 'not polled yet', health: undefined, type: 'BrokerConnected', status: 'Unknown', reason: 'NoReport' },
  {
    name: 'no pod answers',
    health: [{ pod: 'p-worker-0', error: 'ECONNREFUSED' }],
    type: 'DatabaseWritable',
    status: 'Unknown',
    reason: 'NoReport',
    message: /ECONNREFUSED/,
  },
  {
    name: 'all well',
    health: [report(), report({}, 'p-worker-1')],
    type: 'BrokerConnected',
    status: 'True',
    reason: 'Connected',
  },
  {
    name: 'one worker disconnected: the broker URL and the error, no credentials',
    health: [report(), report({ broker: { connected: false, lastError: 'connect ECONNREFUSED' } }, 'p-worker-1')],
    type: 'BrokerConnected',
    status: 'False',
    reason: 'Disconnected',
    message: /1\/2 workers \(p-worker-1\) are not connected to mqtt:\/\/broker:1883: connect ECONNREFUSED; check/,
    event: 'Warning',
  },
  {
    name: 'session lost upstream within the hour: named with the broker',
    health: [report({ broker: { sessionLost: { count: 1, lastAt: '2026-01-01T11:30:00.000Z' } } })],
    type: 'BrokerConnected',
    status: 'True',
    reason: 'SessionLost',
    message: /mqtt:\/\/broker:1883 lost the session of p-worker-0 .*may be lost upstream.*docs\/brokers.md/,
    event: 'Warning',
  },
  {
    name: 'session lost more than an hour ago: connected again',
    health: [report({ broker: { sessionLost: { count: 1, lastAt: '2026-01-01T10:00:00.000Z' } } })],
    type: 'BrokerConnected',
    status: 'True',
    reason: 'Connected',
  },
  {
    name: 'missing partition: the SQLSTATE with its class and the fix',
    health: [
      report({
        database: {
          writable: false,
          blocked: {
            code: '23514',
            message: 'no partition of relation "t" found for row',
            fix: 'create the partition',
          },
        },
      }),
    ],
    type: 'DatabaseWritable',
    status: 'False',
    reason: 'MissingPartition',
    message:
      /SQLSTATE 23514 \(class 23, integrity constraint violation\): no partition .*create the partition.*none is dead-lettered/,
    event: 'Warning',
  },
  {
    name: 'schema drift',
    health: [report({ database: { writable: false, blocked: { code: '42804', message: 'm', fix: 'f' } } })],
    type: 'DatabaseWritable',
    status: 'False',
    reason: 'SchemaDrift',
    message: /class 42, syntax error or access rule violation/,
  },
  {
    name: 'PostgreSQL unreachable: a socket error',
    health: [report({ database: { writable: false, blocked: { code: 'ECONNREFUSED', message: 'm', fix: 'f' } } })],
    type: 'DatabaseWritable',
    status: 'False',
    reason: 'ConnectionFailed',
    message: /fail with ECONNREFUSED: m; f\./,
  },
  {
    name: 'a hung write: no moving figure in the message',
    health: [report({ database: { writable: false, problem: 'a write has waited 37 s for PostgreSQL (is it up?)' } })],
    type: 'DatabaseWritable',
    status: 'False',
    reason: 'WritesFailing',
    message: /waited over 10 s/,
  },
  {
    name: 'startup check pending',
    health: [report({ database: { writable: false, waitingForStartup: 'ECONNREFUSED' } })],
    type: 'DatabaseWritable',
    status: 'False',
    reason: 'StartupCheckPending',
  },
  {
    name: 'S3 down, nothing pending',
    health: [report({ deadLetters: { available: false, lastError: 'ECONNREFUSED' } })],
    type: 'DeadLetterStoreAvailable',
    status: 'False',
    reason: 'Unreachable',
    message: /s3:\/\/dlq\/p\/ does not answer p-worker-0: ECONNREFUSED\. Nothing waits/,
    event: 'Warning',
  },
  {
    name: 'S3 down, dead letters pending in the WAL',
    health: [report({ deadLetters: { available: false, lastError: 'ECONNREFUSED', pending: 3 } })],
    type: 'DeadLetterStoreAvailable',
    status: 'False',
    reason: 'PendingInWal',
    message: /wait in the WAL of p-worker-0 .*the other rows flow/,
  },
  {
    name: 'no dead-letter bucket',
    health: [report({ deadLetters: { configured: false, target: undefined } })],
    type: 'DeadLetterStoreAvailable',
    status: 'True',
    reason: 'NotConfigured',
  },
  {
    name: 'WAL full',
    health: [report({ wal: { backpressure: true, reason: 'WAL full', bytes: 1 << 30 } })],
    type: 'Backpressure',
    status: 'True',
    reason: 'WalFull',
    message: /stopped reading from the broker \(WAL full\).*raise spec.wal.sizeLimit/,
    event: 'Warning',
  },
  {
    name: 'WAL volume low',
    health: [report({ wal: { backpressure: true, reason: 'WAL volume low', volumeLow: true } })],
    type: 'Backpressure',
    status: 'True',
    reason: 'WalVolumeLow',
  },
  {
    name: 'WAL near its limit',
    health: [report({ wal: { bytes: 0.85 * (1 << 30) } })],
    type: 'Backpressure',
    status: 'False',
    reason: 'WalNearLimit',
    message: /over 80% of spec.wal.sizeLimit \(1024 MiB\)/,
    event: 'Warning',
  },
  { name: 'WAL with room', health: [report()], type: 'Backpressure', status: 'False', reason: 'WalHasRoom' },
  { name: 'not paused', health: [report()], type: 'Paused', status: 'False', reason: 'NotPaused' },
  {
    name: 'paused, WAL not empty yet',
    health: [report({ paused: true })],
    paused: true,
    type: 'Paused',
    status: 'True',
    reason: 'Draining',
    message: /p-worker-0 not drained yet/,
    event: 'Normal',
  },
  {
    name: 'paused, a worker has not applied it yet',
    health: [report({ paused: false, wal: { messages: 0 } })],
    paused: true,
    type: 'Paused',
    status: 'True',
    reason: 'Draining',
  },
  {
    name: 'paused and drained',
    health: [report({ paused: true, wal: { messages: 0 } })],
    paused: true,
    type: 'Paused',
    status: 'True',
    reason: 'Drained',
    message: /every acknowledged message is committed/,
  },
];

for (const c of cases) {
  test(`subsystem condition: ${c.name} → ${c.type}=${c.status} (${c.reason})`, () => {
    const s = subsystems(c.health, { paused: c.paused });
    const got = conditionOf(s, c.type);
    assert.equal(got?.status, c.status, got?.message);
    assert.equal(got?.reason, c.reason, got?.message);
    if (c.message) assert.match(got?.message ?? '', c.message);
    assert.doesNotMatch(got?.message ?? '', /undefined/);
    // The main conditions stay, before the subsystem ones.
    assert.deepEqual(
      s.conditions?.map((x) => x.type),
      ['Ready', 'Progressing', 'Degraded', ...SUBSYSTEM_CONDITIONS],
    );
    if (c.event) assert.equal(subsystemEvent(got as Condition, undefined), c.event);
  });
}

test('subsystem conditions: a healthy one appearing is no Event, trouble ending is a Normal one', () => {
  const ok = { type: 'DatabaseWritable', status: 'True' as const, reason: 'Writable' };
  const bad = { type: 'DatabaseWritable', status: 'False' as const, reason: 'MissingPartition' };
  assert.equal(subsystemEvent(ok, undefined), undefined);
  assert.equal(subsystemEvent(ok, { ...ok, status: 'Unknown', reason: 'NoReport' }), undefined);
  assert.equal(subsystemEvent(ok, bad), 'Normal');
  assert.equal(subsystemEvent(bad, ok), 'Warning');
  assert.equal(subsystemEvent({ ...bad, status: 'Unknown' }, ok), undefined);
});

test('subsystem conditions: the same trouble with moving WAL figures is no status change', () => {
  const a = subsystems([report({ wal: { messages: 5, bytes: 100 } })]);
  const b = subsystems([report({ wal: { messages: 9000, bytes: 5e6 } })], { previous: a, at: T1 });
  assert.equal(statusChanged(a, b), false);
});

test('subsystem conditions: database reasons by SQLSTATE', () => {
  const table: Array<[string, string]> = [
    ['23514', 'MissingPartition'],
    ['42P01', 'UndefinedTable'],
    ['42703', 'UndefinedColumn'],
    ['42804', 'SchemaDrift'],
    ['42501', 'InsufficientPrivilege'],
    ['53100', 'DiskFull'],
    ['57P01', 'ServerUnavailable'],
    ['08006', 'ConnectionFailed'],
    ['ETIMEDOUT', 'ConnectionFailed'],
    ['unknown', 'ConnectionFailed'],
    ['XX000', 'WriteRefused'],
  ];
  for (const [code, reason] of table) assert.equal(blockReason(code), reason, code);
  assert.equal(describeCode('57P01'), 'SQLSTATE 57P01 (class 57, operator intervention)');
  assert.equal(describeCode('ECONNRESET'), 'ECONNRESET');
});
