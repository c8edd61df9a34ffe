// Deleting a pipeline against the real kube-apiserver (operator-setup.ts): the operator holds it with its
// drain finalizer, scales the workers to 0 and lets it go only when no worker pod is left, so the garbage
// collector deletes PgBouncer after the workers that flush through it. The test plays the kubelet: it
// creates the worker pods and deletes them (unscheduled pods go at once, with no grace period).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { labels } from '../../../operator/render/meta.ts';
import type { KubeObject } from '../../../operator/runtime/kube.ts';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, condition, paths, writersBeyondStatus } from '../../lib/kube.ts';
import { apiPipeline } from '../../lib/pipelines.ts';
import { client, type Deployment, exists, get, OperatorUnderTest } from './operator-setup.ts';

const c = new OperatorUnderTest();

const podsPath = () => `/api/v1/namespaces/${c.ns}/pods`;

async function workerPod(pipeline: string, i: number): Promise<string> {
  const pod = await client.request<KubeObject>('POST', podsPath(), {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${pipeline}-worker-${i}`, labels: labels(pipeline, 'worker') },
      spec: { automountServiceAccountToken: false, containers: [{ name: 'worker', image: 'mqtt2pg:test' }] },
    },
  });
  return pod.metadata.name;
}

const deletePod = (name: string) => client.request('DELETE', `${podsPath()}/${name}`);

async function events(pipeline: string): Promise<Array<{ type: string; reason: string; message: string }>> {
  const list = await client.request<{ items: Array<{ type: string; reason: string; message: string }> }>(
    'GET',
    `/api/v1/namespaces/${c.ns}/events?fieldSelector=involvedObject.name=${pipeline}`,
  );
  return list.items;
}

/** A pipeline with two worker replicas, its finalizer in place and a worker pod per replica. */
async function runningPipeline(name: string): Promise<string[]> {
  await apply(c.ns, apiPipeline(c.ns, name, { replicas: 2 }));
  await eventually(
    async () => {
      const p = await c.pipeline(name);
      assert.deepEqual(p.metadata.finalizers, ['mqtt2pg.io/drain']);
      assert.equal(p.metadata.generation, 1, 'the finalizer is metadata: the spec is untouched');
      assert.equal((await get<Deployment>(paths.statefulset(c.ns, `${name}-worker`))).spec.replicas, 2);
    },
    { what: `${name}: finalizer and workers` },
  );
  return [await workerPod(name, 0), await workerPod(name, 1)];
}

const deletePipeline = async (name: string) => {
  const r = await kubectl(['delete', 'ingestpipeline', name, '-n', c.ns, '--wait=false']);
  assert.equal(r.code, 0, r.stderr);
};

describe('operator: deleting a pipeline drains its workers before the children go', () => {
  c.hooks();

  test('deletion waits while worker pods exist, says for how many, and completes once they are gone', async () => {
    const pods = await runningPipeline('gamma');
    await deletePipeline('gamma');

    const draining = await eventually(
      async () => {
        const p = await c.pipeline('gamma');
        assert.ok(p.metadata.deletionTimestamp);
        assert.equal(condition(p, 'Ready')?.reason, 'Draining');
        assert.match(condition(p, 'Ready')?.message ?? '', /waiting for 2 worker pods to drain/);
        assert.equal((await get<Deployment>(paths.statefulset(c.ns, 'gamma-worker'))).spec.replicas, 0);
        return p;
      },
      { what: 'workers scaled to 0, Ready=False Draining' },
    );
    assert.equal(condition(draining, 'Progressing')?.reason, 'Draining');
    // The API server bumps the generation when it sets deletionTimestamp; the spec itself is untouched.
    assert.equal((draining.spec as { replicas?: number }).replicas, 2, 'the spec is never written, not even replicas');
    assert.deepEqual(writersBeyondStatus(draining), []);
    assert.ok(await exists(paths.deployment(c.ns, 'gamma-pgbouncer')), 'PgBouncer stays while workers drain');
    await eventually(
      async () =>
        assert.ok((await events('gamma')).some((e) => e.reason === 'Draining' && /2 worker pods/.test(e.message))),
      { what: 'a Draining event' },
    );

    await deletePod(pods[0] ?? '');
    await eventually(
      async () =>
        assert.match(condition(await c.pipeline('gamma'), 'Ready')?.message ?? '', /waiting for 1 worker pod to/),
      { what: 'the count follows the pods' },
    );
    // Still held: one pod may still be flushing its WAL through PgBouncer.
    assert.ok(await exists(paths.pipeline(c.ns, 'gamma')));

    await deletePod(pods[1] ?? '');
    await eventually(async () => assert.equal(await exists(paths.pipeline(c.ns, 'gamma')), false), {
      what: 'the pipeline gone once no worker pod is left',
    });
    const drained = await eventually(async () => {
      const e = (await events('gamma')).find((x) => x.reason === 'Drained');
      assert.ok(e, 'a Drained event');
      return e;
    });
    assert.equal(drained?.type, 'Normal');
    assert.match(drained?.message ?? '', /every worker pod and WAL volume has drained/);
  });

  test('mqtt2pg.io/force-delete=true ends the wait with worker pods still there', async () => {
    const pods = await runningPipeline('delta');
    await deletePipeline('delta');
    await eventually(async () => assert.equal(condition(await c.pipeline('delta'), 'Ready')?.reason, 'Draining'), {
      what: 'draining',
    });
    const r = await kubectl(['annotate', 'ingestpipeline', 'delta', '-n', c.ns, 'mqtt2pg.io/force-delete=true']);
    assert.equal(r.code, 0, r.stderr);
    await eventually(async () => assert.equal(await exists(paths.pipeline(c.ns, 'delta')), false), {
      what: 'the pipeline gone at once',
    });
    for (const pod of pods) assert.ok(await exists(`${podsPath()}/${pod}`), `${pod} was not waited for`);
    const forced = await eventually(async () => {
      const e = (await events('delta')).find((x) => x.reason === 'ForceDeleted');
      assert.ok(e, 'a ForceDeleted event');
      return e;
    });
    assert.equal(forced?.type, 'Warning');
    assert.match(forced?.message ?? '', /without waiting for 2 worker pods/);
  });

  test('a pipeline with no worker pod left goes at once', async () => {
    await apply(c.ns, apiPipeline(c.ns, 'epsilon', { replicas: 0 }));
    await eventually(
      async () => assert.deepEqual((await c.pipeline('epsilon')).metadata.finalizers, ['mqtt2pg.io/drain']),
      {
        what: 'finalizer added',
      },
    );
    await deletePipeline('epsilon');
    await eventually(async () => assert.equal(await exists(paths.pipeline(c.ns, 'epsilon')), false), {
      what: 'the pipeline gone',
    });
  });
});
