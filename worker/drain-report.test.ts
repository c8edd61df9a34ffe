import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  gaveUpMessage,
  progressLine,
  summaryJson,
  TERMINATION_MESSAGE_MAX,
  terminationReport,
} from './drain-report.ts';

test('the progress line shows what is left, the share flushed, the rate and the time to go', () => {
  assert.equal(
    progressLine({ atStart: 10_000, left: 2500, rate: 1250, elapsedMs: 6100 }),
    'drain: 6s 2500 of 10000 messages left (75% flushed), 1250/s, about 2 s to go',
  );
  // Stalled (PostgreSQL down): no time to go is promised.
  assert.equal(
    progressLine({ atStart: 10, left: 10, rate: 0, elapsedMs: 1000 }),
    'drain: 1s 10 of 10 messages left (0% flushed), 0/s',
  );
  assert.match(progressLine({ atStart: 0, left: 0, rate: 0, elapsedMs: 0 }), /0 of 0 messages left \(100% flushed\)/);
});

test('the summary is one JSON line with every count, seconds to a tenth', () => {
  const line = summaryJson({
    walDir: '/wal',
    messagesAtStart: 9,
    flushed: 9,
    rows: 5,
    unparseable: 1,
    deadLettered: 1,
    quarantined: 2,
    left: 0,
    seconds: 1.2345,
  });
  assert.deepEqual(JSON.parse(line), {
    walDir: '/wal',
    messagesAtStart: 9,
    flushed: 9,
    rows: 5,
    unparseable: 1,
    deadLettered: 1,
    quarantined: 2,
    left: 0,
    seconds: 1.2,
  });
  assert.doesNotMatch(line, /\n/);
});

test('giving up says what failed, what is left where, and that a rerun is safe', () => {
  const m = gaveUpMessage({
    walDir: '/data/wal',
    left: 42,
    stalledMs: 5000,
    lastError: 'postgres: connect ECONNREFUSED',
  });
  assert.match(m, /nothing was flushed for 5 s; last error: postgres: connect ECONNREFUSED/);
  assert.match(m, /42 messages stay in the WAL at \/data\/wal, intact/);
  assert.match(m, /run the command again/);
  assert.match(gaveUpMessage({ walDir: '/w', left: 1, stalledMs: 1000, lastError: undefined }), /locked table/);
});

test('the termination report carries the counts and the reason, and fits the kubelet limit however long the reason', () => {
  const s = {
    walDir: '/wal',
    messagesAtStart: 9,
    flushed: 2,
    rows: 2,
    unparseable: 0,
    deadLettered: 0,
    quarantined: 0,
    left: 7,
    seconds: 3.04,
  };
  assert.deepEqual(JSON.parse(terminationReport(s)), { ...s, seconds: 3 });
  assert.equal(JSON.parse(terminationReport(s, 'could not finish')).error, 'could not finish');
  const long = terminationReport(s, `é${'x'.repeat(10_000)}`);
  assert.ok(Buffer.byteLength(long) <= TERMINATION_MESSAGE_MAX, `${Buffer.byteLength(long)} bytes`);
  const parsed = JSON.parse(long);
  assert.equal(parsed.left, 7);
  assert.match(parsed.error, /^éx+\.\.\.$/);
});
