// The scale subresource against the real kube-apiserver: `kubectl scale ingp/x` (and so an HPA or KEDA)
// drives spec.replicas, the operator follows with the worker StatefulSet, and /scale reports the pods the
// pipeline runs and their selector. With autoscaling on, the autoscaler owns the pod count: a spec.replicas
// it overrides is reported as a Warning Event instead of being silently ignored.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KubeObject } from '../../../operator/runtime/kube.ts';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, paths } from '../../lib/kube.ts';
import { apiPipeline } from '../../lib/pipelines.ts';
import { client, get, OperatorUnderTest } from './operator-setup.ts';

const c = new OperatorUnderTest();
type Scale = { spec: { replicas: number }; status: { replicas: number; selector: string } };
type Workload = KubeObject & { spec: { replicas: number } };

async function scale(name: string, replicas: number): Promise<void> {
  const r = await kubectl(['scale', `ingestpipeline/${name}`, '-n', c.ns, `--replicas=${replicas}`]);
  assert.equal(r.code, 0, r.stderr);
}

const scaleOf = (name: string) =>
  get<Scale>(`/apis/mqtt2pg.io/v1alpha1/namespaces/${c.ns}/ingestpipelines/${name}/scale`);

describe('operator: kubectl scale and the scale subresource', () => {
  c.hooks();

  test('kubectl scale sets spec.replicas; the workers follow and /scale reports them with their selector', async () => {
    await apply(c.ns, apiPipeline(c.ns, 'sc', { replicas: 1 }));
    await scale('sc', 3);
    assert.equal(((await c.pipeline('sc')).spec as { replicas?: number }).replicas, 3);
    await eventually(
      async () => assert.equal((await get<Workload>(paths.statefulset(c.ns, 'sc-worker'))).spec.replicas, 3),
      {
        what: 'StatefulSet scaled to 3',
      },
    );
    await eventually(
      async () => {
        const s = await scaleOf('sc');
        assert.equal(s.spec.replicas, 3);
        assert.equal(s.status.replicas, 3);
        assert.equal(
          s.status.selector,
          'app.kubernetes.io/name=mqtt2pg,app.kubernetes.io/instance=sc,app.kubernetes.io/component=worker',
        );
      },
      { what: '/scale reporting 3 worker pods and their selector' },
    );
  });

  test('with autoscaling on, a spec.replicas the autoscaler overrides is reported, not silently ignored', async () => {
    await apply(
      c.ns,
      apiPipeline(c.ns, 'auto', { replicas: 2, autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 4 } }),
    );
    await eventually(
      async () => assert.equal((await get<Workload>(paths.statefulset(c.ns, 'auto-worker'))).spec.replicas, 2),
      {
        what: 'StatefulSet at 2',
      },
    );
    await scale('auto', 5);
    const warning = await eventually(
      async () => {
        const list = await client.request<{ items: Array<{ type: string; reason: string; message: string }> }>(
          'GET',
          `/api/v1/namespaces/${c.ns}/events`,
          { query: { fieldSelector: 'involvedObject.name=auto' } },
        );
        const w = list.items.find((e) => e.reason === 'ReplicasOverridden');
        assert.ok(w, `a ReplicasOverridden event among ${list.items.map((e) => e.reason).join(', ')}`);
        return w;
      },
      { what: 'the ReplicasOverridden Warning' },
    );
    assert.equal(warning.type, 'Warning');
    assert.match(warning.message, /spec.replicas 5 is not applied: spec.autoscaling.enabled.*2\.\.4/);
    const kept = (await get<Workload>(paths.statefulset(c.ns, 'auto-worker'))).spec.replicas;
    assert.ok(kept >= 2 && kept <= 4, `the worker pods stay within the autoscaling bounds: ${kept}`);
  });
});
