import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dashboard, queriedMetrics } from './dashboard.ts';

test('the dashboard has the panels the issue asks for, each with a query and a description', () => {
  const d = dashboard() as { panels: Array<{ title: string; description: string; targets: unknown[] }> };
  assert.deepEqual(
    d.panels.map((p) => p.title),
    [
      'Ingest rate',
      'Acknowledged vs committed',
      'WAL backlog',
      'Oldest uncommitted message',
      'Receive → commit latency',
      'Flushers and PgBouncer pool size',
      'Unparseable by reason',
      'Dead letters by SQLSTATE class',
      'Retries',
      'Autoscaler decisions',
    ],
  );
  for (const p of d.panels) {
    assert.ok(p.targets.length > 0 && p.description.length > 20, p.title);
  }
  assert.ok(queriedMetrics().includes('mqtt2pg_receive_to_commit_seconds_bucket'));
});
