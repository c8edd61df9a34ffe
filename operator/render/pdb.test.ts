import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipeline } from '../../test/lib/pipelines.ts';
import { selectorLabels } from './meta.ts';
import { renderPdb } from './pdb.ts';

test('the PodDisruptionBudget lets one worker go at a time, even with one replica', () => {
  const { p, r } = pipeline({ replicas: 1 });
  const pdb = renderPdb(p, r);
  assert.equal(pdb.metadata.name, 'fleet-worker');
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.deepEqual(pdb.spec.selector.matchLabels, selectorLabels('fleet', 'worker'));
});

test('an unready worker of a persistent WAL may always be evicted; an ephemeral one is protected', () => {
  const persistent = pipeline();
  assert.equal(renderPdb(persistent.p, persistent.r).spec.unhealthyPodEvictionPolicy, 'AlwaysAllow');
  const ephemeral = pipeline({ wal: { storage: { type: 'Ephemeral' } } });
  assert.equal(renderPdb(ephemeral.p, ephemeral.r).spec.unhealthyPodEvictionPolicy, undefined);
});
