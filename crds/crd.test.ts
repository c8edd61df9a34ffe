import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCrd } from './crd.ts';

test('the CRD carries no schema defaults (they would show as drift in Argo CD)', () => {
  const text = JSON.stringify(buildCrd());
  assert.doesNotMatch(text, /"default":/);
  const crd = buildCrd();
  assert.equal(crd.spec.names.plural, 'ingestpipelines');
  assert.deepEqual(crd.spec.names.shortNames, ['ingp']);
  assert.deepEqual(
    crd.spec.versions[0]?.additionalPrinterColumns.filter((c) => !('priority' in c)).map((c) => c.name),
    // DESIGN's columns, and Paused (issue #16: spec.paused shows in the status columns).
    ['Ready', 'Replicas', 'Flushers', 'Rate', 'Backlog', 'Paused', 'Age'],
  );
  // `kubectl get ingp -o wide` adds a column per subsystem condition (docs/conditions.md).
  const wide = crd.spec.versions[0]?.additionalPrinterColumns.filter((c) => 'priority' in c).map((c) => c.name);
  for (const name of ['Broker', 'Database', 'DeadLetters', 'Backpressure']) assert.ok(wide?.includes(name), name);
});
