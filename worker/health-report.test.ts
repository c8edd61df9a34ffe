import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type HealthParts, healthReport, withoutCredentials } from './health-report.ts';

const parts: HealthParts = {
  instance: 'p-worker-0',
  paused: false,
  receiver: {
    connected: true,
    brokerUrl: 'mqtts://ingest:s3cret@broker.example:8883',
    lastError: undefined,
    backpressured: false,
    session: { lost: 0, lastLostAt: undefined },
  },
  firstBroker: 'mqtt://a:b@first:1883',
  waitingForPostgres: undefined,
  pool: { problem: undefined, blocked: undefined, pendingDeadLetters: { count: 0, lastError: undefined } },
  deadLetterTarget: 's3://dlq/p/',
  deadLetterProbeError: undefined,
  wal: {
    messages: 3,
    bytes: 300,
    opts: { sizeLimitBytes: 1000 },
    full: false,
    fullReason: 'WAL full',
    problem: undefined,
  },
};

test('the broker URL is reported without credentials', () => {
  assert.equal(healthReport(parts).broker.url, 'mqtts://broker.example:8883');
  assert.equal(withoutCredentials('mqtt://u:p@h:1883'), 'mqtt://h:1883');
  const { receiver: _r, ...starting } = parts;
  const r = healthReport(starting);
  assert.equal(r.broker.url, 'mqtt://first:1883');
  assert.equal(r.broker.connected, false);
  assert.doesNotMatch(JSON.stringify(r), /s3cret|a:b@/);
});

test('a blocked sink is reported with its SQLSTATE and fix; dead letters pending make the store unavailable', () => {
  const r = healthReport({
    ...parts,
    pool: {
      problem: 'last write failed: ...',
      blocked: { code: '23514', message: 'no partition', fix: 'create it' },
      pendingDeadLetters: { count: 2, lastError: 'connect ECONNREFUSED' },
    },
  });
  assert.deepEqual(r.database, {
    writable: false,
    blocked: { code: '23514', message: 'no partition', fix: 'create it' },
  });
  assert.deepEqual(r.deadLetters, {
    configured: true,
    available: false,
    target: 's3://dlq/p/',
    lastError: 'connect ECONNREFUSED',
    pending: 2,
  });
});

test('a full WAL is backpressure with its reason; the probe failing makes the store unavailable', () => {
  const r = healthReport({
    ...parts,
    deadLetterProbeError: 'timeout',
    wal: { ...(parts.wal as NonNullable<HealthParts['wal']>), full: true, bytes: 1000 },
  });
  assert.equal(r.wal.backpressure, true);
  assert.equal(r.wal.reason, 'WAL full');
  assert.equal(r.deadLetters.available, false);
  assert.equal(r.deadLetters.lastError, 'timeout');
});
