// The PodDisruptionBudget status the Eviction API reads: what it allows with every pod ready, with pods not
// ready (a PostgreSQL outage makes every worker unready), and right after an eviction the API server recorded.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BudgetPodView, budgetStatus } from './disruption-controller.ts';

const now = new Date('2026-01-01T12:00:00Z');
const pod = (name: string, ready = true, active = true): BudgetPodView => ({ name, ready, active, controller: 'sts' });
const status = (
  pods: BudgetPodView[],
  spec: { minAvailable?: number | string; maxUnavailable?: number | string } = { maxUnavailable: 1 },
  disruptedPods: Record<string, Date> = {},
) => budgetStatus({ spec, generation: 2, pods, replicasOf: new Map([['sts', 3]]), disruptedPods, now });

describe('budgetStatus', () => {
  test('maxUnavailable 1 over a 3-replica workload: one disruption while all are ready, none with one unready', () => {
    const all = status([pod('w-0'), pod('w-1'), pod('w-2')]);
    assert.deepEqual(all, {
      observedGeneration: 2,
      expectedPods: 3,
      desiredHealthy: 2,
      currentHealthy: 3,
      disruptionsAllowed: 1,
      disruptedPods: {},
    });
    assert.equal(status([pod('w-0'), pod('w-1', false), pod('w-2')]).disruptionsAllowed, 0);
  });

  test('every pod unready: nothing allowed, and a missing pod counts against the budget too', () => {
    const s = status([pod('w-0', false), pod('w-1', false), pod('w-2', false)]);
    assert.equal(s.currentHealthy, 0);
    assert.equal(s.disruptionsAllowed, 0);
    assert.equal(status([pod('w-0'), pod('w-1')]).disruptionsAllowed, 0, 'expected pods come from the replicas');
  });

  test('an evicted pod counts as disrupted until it is seen terminating; then the entry goes', () => {
    const evicted = { 'w-2': new Date(now.getTime() - 1000) };
    const s = status([pod('w-0'), pod('w-1'), pod('w-2')], { maxUnavailable: 1 }, evicted);
    assert.deepEqual(Object.keys(s.disruptedPods), ['w-2']);
    assert.equal(s.currentHealthy, 2);
    assert.equal(s.disruptionsAllowed, 0);
    const gone = status([pod('w-0'), pod('w-1'), pod('w-2', true, false)], { maxUnavailable: 1 }, evicted);
    assert.deepEqual(gone.disruptedPods, {});
    assert.equal(gone.currentHealthy, 2);
    const stale = status([pod('w-0'), pod('w-1'), pod('w-2')], { maxUnavailable: 1 }, { 'w-2': new Date(0) });
    assert.deepEqual(stale.disruptedPods, {}, 'an entry older than the deletion timeout is dropped');
  });

  test('minAvailable: an integer against the pods there are, a percentage of the replicas rounded up', () => {
    const int = status([pod('w-0'), pod('w-1')], { minAvailable: 1 });
    assert.deepEqual([int.expectedPods, int.desiredHealthy, int.disruptionsAllowed], [2, 1, 1]);
    const pct = status([pod('w-0'), pod('w-1'), pod('w-2')], { minAvailable: '50%' });
    assert.deepEqual([pct.expectedPods, pct.desiredHealthy, pct.disruptionsAllowed], [3, 2, 1]);
  });
});
