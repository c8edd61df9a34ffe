// Two operator processes against the real API server: exactly one leads and reconciles; when it dies without
// releasing the Lease (SIGKILL), the other takes over within the lease duration; a graceful stop hands over
// at once.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeObject } from '../../../operator/runtime/kube.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, condition, type OperatorProcess, paths, startOperator } from '../../lib/kube.ts';
import { apiPipeline } from '../../lib/pipelines.ts';
import { cleanUp, client, getPipeline, pipelineNamespace } from './operator-setup.ts';

type Lease = KubeObject & { spec: { holderIdentity?: string; leaseTransitions?: number } };
const LEASE_MS = 3000;

describe('leader election', () => {
  let ns: string;
  const ops: OperatorProcess[] = [];
  const launch = (identity: string) => {
    const op = startOperator([
      '--watch-namespace',
      ns,
      '--lease-namespace',
      ns,
      '--identity',
      identity,
      '--lease-duration',
      `${LEASE_MS}ms`,
      '--renew-deadline',
      '2s',
      '--retry-period',
      '250ms',
    ]);
    ops.push(op);
    return op;
  };
  const lease = () => client.request<Lease>('GET', paths.lease(ns, 'mqtt2pg-operator'));
  const reconciledBy = (op: OperatorProcess, name: string) =>
    op.logs.some((l) => l.includes(`"name":"${name}"`) && l.includes('created'));

  before(async () => {
    ns = await pipelineNamespace('leader');
  });

  after(async () => {
    for (const op of ops) await op.stop('SIGKILL');
    await cleanUp(ns);
  });

  test('two operators: one leader reconciles; killing it hands over within the lease time', async () => {
    const a = launch('op-a');
    await a.waitForLog(/became the leader/);
    const b = launch('op-b');
    await b.waitForLog(/another operator is the leader; standing by/);
    assert.equal((await lease()).spec.holderIdentity, 'op-a');

    await apply(ns, apiPipeline(ns, 'one'));
    await eventually(async () => assert.ok(reconciledBy(a, 'one')), { what: 'leader reconciled' });
    assert.equal(reconciledBy(b, 'one'), false, 'the standby does not reconcile');
    assert.ok(!b.logs.some((l) => /caches synced/.test(l)), 'the standby does not even watch');

    const killedAt = Date.now();
    await a.stop('SIGKILL');
    await b.waitForLog(/became the leader/, LEASE_MS + 5000);
    const takeover = Date.now() - killedAt;
    assert.ok(takeover <= LEASE_MS + 1500, `took over after ${takeover} ms (lease ${LEASE_MS} ms)`);
    assert.equal((await lease()).spec.holderIdentity, 'op-b');

    // The new leader reconciles what changed while nobody led.
    await apply(ns, apiPipeline(ns, 'two'));
    await eventually(
      async () => {
        const p = await getPipeline(ns, 'two');
        assert.ok(condition(p, 'Ready'));
      },
      { what: 'new leader reconciles' },
    );
    assert.ok(reconciledBy(b, 'two'));
  });

  test('a graceful stop releases the Lease so the standby takes over at once', async () => {
    const b = ops[1];
    assert.ok(b);
    const c = launch('op-c');
    await c.waitForLog(/another operator is the leader; standing by/);
    const stoppedAt = Date.now();
    assert.equal(await b.stop('SIGTERM'), 0);
    await c.waitForLog(/became the leader/, LEASE_MS + 5000);
    const handover = Date.now() - stoppedAt;
    assert.ok(handover < LEASE_MS, `handover took ${handover} ms, less than the lease (${LEASE_MS} ms)`);
    const l = await lease();
    assert.equal(l.spec.holderIdentity, 'op-c');
    assert.ok((l.spec.leaseTransitions ?? 0) >= 2);
  });
});
