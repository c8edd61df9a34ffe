// spec.paused on the operator's side, against the real kube-apiserver (no workers run here): the pipeline
// reports Paused and the autoscaler holds while it is set; and Events are counted on the Event already posted
// rather than posted again (operator/events.ts), as `kubectl describe` shows them.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { IngestPipeline } from '../../../api/types.ts';
import { EventRecorder } from '../../../operator/events.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, condition } from '../../lib/kube.ts';
import { apiPipeline } from '../../lib/pipelines.ts';
import { client, get, OperatorUnderTest } from './operator-setup.ts';

const c = new OperatorUnderTest();
const autoscaled = { autoscaling: { enabled: true, interval: '1s', minReplicas: 1, maxReplicas: 3 } };
type WithAutoscaling = Awaited<ReturnType<typeof c.pipeline>> & { status?: { autoscaling?: unknown } };

describe('operator: spec.paused and aggregated Events', () => {
  c.hooks();

  test('paused: the Paused condition says so, and the autoscaler holds until it is unpaused', async () => {
    await apply(c.ns, apiPipeline(c.ns, 'held', { ...autoscaled, paused: true }));
    await apply(c.ns, apiPipeline(c.ns, 'running', autoscaled));
    const paused = await eventually(
      async () => {
        const got = condition(await c.pipeline('held'), 'Paused');
        assert.equal(got?.status, 'True');
        return got;
      },
      { what: 'Paused=True' },
    );
    assert.equal(paused?.reason, 'Draining', 'no worker has reported a drained WAL');
    assert.match(paused?.message ?? '', /set spec.paused false to resume/);
    // The autoscaler goes through every pipeline each round: once it has acted on the running one, it has had
    // its chances at the paused one.
    await eventually(
      async () => assert.ok(((await c.pipeline('running')) as WithAutoscaling).status?.autoscaling, 'running'),
      { timeoutMs: 30_000, what: 'the autoscaler acting on the pipeline that runs' },
    );
    assert.equal(((await c.pipeline('held')) as WithAutoscaling).status?.autoscaling, undefined, 'held while paused');

    await apply(c.ns, apiPipeline(c.ns, 'held', { ...autoscaled, paused: false }));
    await eventually(
      async () => {
        const p = (await c.pipeline('held')) as WithAutoscaling;
        assert.equal(condition(p, 'Paused')?.status, 'False');
        assert.ok(p.status?.autoscaling, 'the autoscaler acts again');
      },
      { timeoutMs: 30_000, what: 'unpaused: Paused=False and the autoscaler acting' },
    );
  });

  test('the same Event three times is one Event with count 3; another message is another Event', async () => {
    await apply(c.ns, apiPipeline(c.ns, 'noisy'));
    const p = await get<IngestPipeline>(`/apis/mqtt2pg.io/v1alpha1/namespaces/${c.ns}/ingestpipelines/noisy`);
    const errors: unknown[] = [];
    const recorder = new EventRecorder(client, 'test', (err) => errors.push(err));
    const message = 'BrokerConnected is False: not connected to mqtt://broker:1883';
    for (let i = 0; i < 3; i++) recorder.emit(p, 'Warning', 'Disconnected', message);
    recorder.emit(p, 'Warning', 'Disconnected', `${message} (another)`);
    type EventList = { items: Array<{ reason: string; message: string; count: number; type: string }> };
    const events = await eventually(
      async () => {
        const list = await get<EventList>(
          `/api/v1/namespaces/${c.ns}/events?fieldSelector=${encodeURIComponent('involvedObject.name=noisy,reason=Disconnected')}`,
        );
        const counts = list.items.map((e) => e.count).sort();
        assert.deepEqual(counts, [1, 3], JSON.stringify(list.items));
        return list.items;
      },
      { what: 'two Events, one counted three times' },
    );
    assert.equal(events.find((e) => e.count === 3)?.message, message);
    assert.deepEqual(errors, []);
  });
});
