import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePipelines } from '../api/load-pipeline.ts';
import type { InboundMessage } from './message.ts';
import { checkPartitions } from './partition-check.ts';
import { PartitionWindow, partitionName } from './partition-plan.ts';
import { rowBuilder } from './routing.ts';

const D = 86_400_000;
const now = Date.parse('2026-11-30T13:00:00Z');
const { resolved } = parsePipelines(`
apiVersion: mqtt2pg.io/v1alpha1
kind: IngestPipeline
metadata: {name: factory}
spec:
  source: {brokers: ["mqtt://broker:1883"]}
  sink: {postgres: {host: pg, database: db, credentialsSecretRef: {name: pg}}}
  routes:
    - name: readings
      topicFilter: m/+
      topicPattern: m/{machine}
      table: readings
      columns:
        - {name: machine, type: text, from: topic.machine}
        - {name: measured_at, type: timestamptz, from: payload.ts}
      dedup: {key: [machine, measured_at]}
      partitioning: {column: measured_at, interval: 1d, retention: 2d, premake: 1}
    - name: plain
      topicFilter: p/+
      topicPattern: p/{machine}
      table: plain
      columns: [{name: at, type: timestamptz, from: payload.ts}]
`).pipelines[0] as NonNullable<ReturnType<typeof parsePipelines>['pipelines'][0]>;

const days = [-2, -1, 0, 1].map((d) => {
  const from = Math.floor(now / D) * D + d * D;
  return { name: partitionName('readings', from, D), fromMs: from, toMs: from + D };
});
const window = new PartitionWindow(days, 2 * D);
const check = checkPartitions(
  rowBuilder(resolved.routes, 'json', resolved.limits),
  new Map([['readings', { refuse: (ms: number) => window.refuse(ms, now) }]]),
  new Map([['readings', 'measured_at']]),
);
const msg = (topic: string, payload: unknown): InboundMessage => ({
  topic,
  payload: Buffer.from(JSON.stringify(payload)),
  receivedAt: now,
  qos: 1,
  dup: false,
});

test('a row inside the partitions goes to COPY', () => {
  const r = check(msg('m/a', { ts: '2026-11-30T01:02:03.456789+01:00' }));
  assert.equal(r.kind, 'route');
});

test('rows outside the partitions, or without a value, are unparseable with the column and the window named', () => {
  const old = check(msg('m/a', { ts: '2026-11-01T00:00:00Z' }));
  assert.deepEqual(old.kind === 'unparseable' && { reason: old.reason, detail: old.detail }, {
    reason: 'outside_partitions',
    detail:
      'column "measured_at": 2026-11-01T00:00:00.000Z is older than the oldest partition (partitions span 2026-11-28T00:00:00.000Z to 2026-12-02T00:00:00.000Z)',
  });
  const ahead = check(msg('m/a', { ts: '2026-12-24T00:00:00Z' }));
  assert.match(ahead.kind === 'unparseable' ? ahead.detail : '', /later than the newest partition/);
  const none = check(msg('m/a', {}));
  assert.deepEqual(none.kind === 'unparseable' && none.reason, 'outside_partitions');
  assert.match(none.kind === 'unparseable' ? none.detail : '', /^column "measured_at": no value/);
});

test('other routes are not checked', () => {
  assert.equal(check(msg('p/a', { ts: '1999-01-01T00:00:00Z' })).kind, 'route');
});
