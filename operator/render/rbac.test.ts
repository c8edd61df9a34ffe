import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipeline } from '../../test/lib/pipelines.ts';
import { renderRbac } from './rbac.ts';

test('the worker gets its own ServiceAccount bound to a least-privilege Role', () => {
  const { p, r } = pipeline();
  const [sa, role, binding] = renderRbac(p, r) as Array<
    Record<string, unknown> & { kind: string; metadata: { name: string } }
  >;
  assert.equal(sa?.kind, 'ServiceAccount');
  assert.equal(sa?.metadata.name, 'fleet-worker');
  assert.deepEqual((role as unknown as { rules: unknown[] }).rules, [
    {
      apiGroups: ['mqtt2pg.io'],
      resources: ['ingestpipelines'],
      resourceNames: ['fleet'],
      verbs: ['get', 'list', 'watch'],
    },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  ]);
  const rb = binding as unknown as { roleRef: { name: string }; subjects: Array<{ name: string; namespace: string }> };
  assert.equal(rb.roleRef.name, 'fleet-worker');
  assert.deepEqual(rb.subjects, [{ kind: 'ServiceAccount', name: 'fleet-worker', namespace: 'iot' }]);
  const verbs = JSON.stringify((role as unknown as { rules: unknown[] }).rules);
  assert.doesNotMatch(verbs, /secrets|\*|delete|update/);
});
