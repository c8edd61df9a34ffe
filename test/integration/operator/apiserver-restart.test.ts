// The API server restarted under a running operator: its watches break, it reconnects with backoff and
// resumes from the last resourceVersion, and a change made right after the restart is reconciled.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeObject } from '../../../operator/runtime/kube.ts';
import { command } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, condition, metricsText, type OperatorProcess, paths, startOperator } from '../../lib/kube.ts';
import { apiPipeline } from '../../lib/pipelines.ts';
import { cleanUp, client, getPipeline, pipelineNamespace } from './operator-setup.ts';

describe('API server restart', () => {
  let ns: string;
  let op: OperatorProcess;

  before(async () => {
    ns = await pipelineNamespace('restart');
    op = startOperator([
      '--watch-namespace',
      ns,
      // Leader election off: the Lease renewals would fail while the API server is down and the
      // operator would (rightly) exit; this test is about the watches.
      '--no-leader-elect',
    ]);
    await op.waitForLog(/caches synced/);
  });

  after(async () => {
    await op?.stop();
    await cleanUp(ns);
  });

  test('the operator resumes after kube-apiserver restarts and misses no change', async () => {
    await apply(ns, apiPipeline(ns, 'p1', { replicas: 1 }));
    await eventually(async () => assert.ok(condition(await getPipeline(ns, 'p1'), 'Ready')), {
      what: 'first reconcile',
    });

    const restarted = await command('test/env/service.sh', ['restart', 'kube-apiserver']);
    assert.equal(restarted.code, 0, restarted.stderr);
    // Changes made before the operator's watches reconnect: they must arrive through the resumed watches.
    await eventually(() => apply(ns, apiPipeline(ns, 'p1', { replicas: 3 })), {
      what: 'API server answers',
      timeoutMs: 60_000,
    });
    await apply(ns, apiPipeline(ns, 'p2'));
    await client.request('DELETE', paths.configmap(ns, 'p1-worker-config'));

    await eventually(
      async () => {
        const p1 = await getPipeline(ns, 'p1');
        assert.equal(p1.status?.observedGeneration, p1.metadata.generation);
        const d = await client.request<KubeObject & { spec: { replicas: number } }>(
          'GET',
          paths.statefulset(ns, 'p1-worker'),
        );
        assert.equal(d.spec.replicas, 3);
        await client.request('GET', paths.configmap(ns, 'p1-worker-config'));
        await client.request('GET', paths.statefulset(ns, 'p2-worker'));
      },
      { what: 'changes after the restart reconciled', timeoutMs: 60_000 },
    );
    const text = await metricsText(op);
    const restarts = text
      .split('\n')
      .filter((l) => l.startsWith('mqtt2pg_operator_watch_restarts_total{'))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    assert.ok(restarts >= 10, `every watch restarted after the outage (${restarts} restarts)`);
    assert.equal(op.child.exitCode, null, 'still running');
  });
});
