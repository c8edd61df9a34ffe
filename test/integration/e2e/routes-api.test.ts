// spec.routes in the real kube-apiserver (the CRD of this tree): the CEL rules refuse a dedup key without the
// partition column, and the transition rules refuse changing a column's type or a route's dedup key on a
// stored pipeline, saying how to migrate, while adding a column is accepted (docs/routes.md).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { dump } from 'js-yaml';
import type { ColumnSpec, RouteSpec } from '../../../api/types.ts';
import { ensureCrd, kubectl } from '../../lib/env.ts';
import { apiPipeline } from '../../lib/pipelines.ts';

const COLUMNS: ColumnSpec[] = [
  { name: 'machine', type: 'text', from: 'topic.machine' },
  { name: 'measured_at', type: 'timestamptz', from: 'payload.ts', required: true },
];

const route = (over: Partial<RouteSpec> = {}): RouteSpec => ({
  name: 'readings',
  topicFilter: 'plant/+/machine/+/reading',
  topicPattern: 'plant/{plant}/machine/{machine}/reading',
  table: 'readings',
  columns: COLUMNS,
  dedup: { key: ['machine', 'measured_at'] },
  partitioning: { column: 'measured_at', interval: '1d', retention: '90d' },
  ...over,
});

describe('routes in the API server', () => {
  const ns = `routes-${randomBytes(3).toString('hex')}`;
  const doc = (r: RouteSpec) => dump(apiPipeline(ns, 'factory', { routes: [r] }));
  const applyDoc = (text: string) => kubectl(['apply', '-n', ns, '-f', '-'], text);

  before(async () => {
    await ensureCrd();
    const created = await kubectl(['create', 'namespace', ns]);
    assert.equal(created.code, 0, created.stderr);
  });

  after(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  test('a partitioned route whose dedup key lacks the partition column is refused, saying why', async () => {
    const r = await applyDoc(dump(apiPipeline(ns, 'nokey', { routes: [route({ dedup: { key: ['machine'] } })] })));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.routes\[0\]: Invalid value.*dedup\.key must include partitioning\.column/);
  });

  test('a column type or the dedup key cannot change in place; a new column can be added', async () => {
    const created = await applyDoc(doc(route()));
    assert.equal(created.code, 0, created.stderr);

    const retyped = await applyDoc(
      doc(route({ columns: [{ ...COLUMNS[0], type: 'integer' } as ColumnSpec, COLUMNS[1] as ColumnSpec] })),
    );
    assert.notEqual(retyped.code, 0);
    assert.match(
      retyped.stderr,
      /spec\.routes\[0\]\.columns\[0\]\.type: Invalid value.*cannot change in place.*ALTER TABLE/,
    );

    const rekeyed = await applyDoc(doc(route({ dedup: { key: ['measured_at'] } })));
    assert.notEqual(rekeyed.code, 0);
    assert.match(rekeyed.stderr, /dedup key cannot change in place.*create a new route with a new table/);

    const widened = await applyDoc(
      doc(route({ columns: [...COLUMNS, { name: 'temperature', type: 'double precision', from: 'payload.t' }] })),
    );
    assert.equal(widened.code, 0, widened.stderr);
  });
});
