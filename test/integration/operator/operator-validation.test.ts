// The operator against the real kube-apiserver (operator-setup.ts): invalid pipelines, refused by the API
// server's schema or, where only the loader can tell, reported as Degraded with the field named.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dump } from 'js-yaml';
import type { IngestPipeline } from '../../../api/types.ts';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, condition } from '../../lib/kube.ts';
import { apiPipeline, unchecked } from '../../lib/pipelines.ts';
import { OperatorUnderTest } from './operator-setup.ts';

const c = new OperatorUnderTest();

describe('operator: invalid pipelines', () => {
  c.hooks();

  test('the API server rejects invalid pipelines, naming the field', async () => {
    const cases: Array<[IngestPipeline, RegExp]> = [
      [apiPipeline(c.ns, 'bad1', { replicas: -1 }), /spec\.replicas: Invalid value: -1/],
      [apiPipeline(c.ns, 'bad2', { flusher: { flushers: 0 } }), /spec\.flusher\.flushers: Invalid value/],
      [apiPipeline(c.ns, 'bad3', { wal: { sizeLimit: 'lots' } }), /spec\.wal\.sizeLimit/],
      [
        unchecked(apiPipeline(c.ns, 'bad4'), { spec: { sink: { postgres: { password: 'x' } } } }),
        /spec\.sink\.postgres\.password|unknown field "spec\.sink\.postgres\.password"/,
      ],
    ];
    for (const [p, message] of cases) {
      const doc = dump(p);
      const r = await kubectl(['apply', '-n', c.ns, '-f', '-'], doc);
      assert.notEqual(r.code, 0, `accepted:\n${doc}`);
      assert.match(r.stderr, message);
    }
  });

  test('a pipeline the schema accepts but the loader refuses is Degraded with the field named', async () => {
    // flushers within the schema bounds but above the default maxFlushers (8): only the loader catches it.
    await apply(c.ns, apiPipeline(c.ns, 'zeta', { flusher: { flushers: 12 } }));
    await eventually(
      async () => {
        const s = await c.pipeline('zeta');
        assert.equal(condition(s, 'Degraded')?.reason, 'InvalidSpec');
        assert.match(condition(s, 'Degraded')?.message ?? '', /spec\.flusher\.flushers: must lie within/);
      },
      { what: 'Degraded InvalidSpec' },
    );
  });
});
