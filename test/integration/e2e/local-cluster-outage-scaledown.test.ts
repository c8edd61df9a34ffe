// A Persistent pipeline scaled 3 → 1 during a PostgreSQL outage, on the local cluster (local-cluster-setup.ts):
// the removed workers stop with their acknowledged messages still in the WALs on their PVCs. The operator
// drains each removed volume with a Job running `mqtt2pg drain`; while PostgreSQL is down the attempts fail
// and the pipeline's status says per volume how many messages are stranded there. Once PostgreSQL is back,
// every acknowledged id is stored and the removed volumes are deleted; the kept ordinal's volume stays.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, condition } from '../../lib/kube.ts';
import { LocalClusterE2E, names, seconds } from './local-cluster-setup.ts';
import { drainJobs, outcome, walClaims, withPostgresDown } from './wal-drain-outage.ts';

// A drain attempt gives up after 2 s without progress, so the stranded count shows within seconds.
const c = new LocalClusterE2E(['--drain-timeout', '2s']);
const { id, name } = c.target;

describe('local cluster: a scale-down during a PostgreSQL outage drains the removed WAL volumes', {
  timeout: 600_000,
}, () => {
  c.hooks();

  test('StatefulSet 3 → 1 with PostgreSQL down: stranded counts in status, then every acknowledged id stored and the removed PVCs gone', async (t) =>
    c.scenario(t, async () => {
      const p = `${name}-s`;
      const flusher = { retry: { initialBackoff: '100ms', maxBackoff: '1s' } };
      await apply(c.ns, c.pipeline(flusher, { name: p, replicas: 3, grace: 10 }));
      await c.awaitPipelineReady(1, p, 3);
      const claims = [0, 1, 2].map((n) => `wal-${p}-worker-${n}`);
      assert.deepEqual(await walClaims(c, p), claims);

      const runId = `scaledown${id}`;
      const count = 3000;
      await withPostgresDown(async (startPostgres) => {
        const summary = await c.load(runId, count, 3000);
        assert.equal(summary.acked, count, 'every message acknowledged into the WALs');

        const t0 = performance.now();
        const patch = await kubectl([
          'patch',
          'ingestpipeline',
          p,
          '-n',
          c.ns,
          '--type=merge',
          '-p',
          '{"spec":{"replicas":1}}',
        ]);
        assert.equal(patch.code, 0, patch.stderr);
        const stranded = await eventually(
          async () => {
            const s = await c.getPipeline(p);
            const drains = s.status?.walDrains ?? [];
            assert.deepEqual(
              drains.map((d) => d.claim),
              claims.slice(1),
            );
            for (const d of drains) assert.ok(d.messagesLeft !== undefined, `${d.claim}: ${d.message}`);
            assert.equal(condition(s, 'Progressing')?.reason, 'DrainingRemovedWorkers');
            assert.match(condition(s, 'Progressing')?.message ?? '', /messages left/);
            return drains;
          },
          { timeoutMs: 90_000, intervalMs: 250, what: 'status.walDrains with a stranded count per removed volume' },
        );
        const left = stranded.reduce((n, d) => n + (d.messagesLeft ?? 0), 0);
        assert.ok(left > 0, 'the removed workers could not flush with PostgreSQL down');
        assert.deepEqual(
          names(await c.workerPods(p)).filter((n) => n.includes('-worker-')),
          [`${p}-worker-0`],
        );
        assert.deepEqual(await walClaims(c, p), claims, 'no volume released while it holds messages');
        t.diagnostic(
          `stranded while PostgreSQL was down (${seconds(t0)} after the scale-down): ${stranded.map((d) => `${d.claim}=${d.messagesLeft}`).join(', ')}`,
        );

        await startPostgres();
        const a = await c.awaitAllStored(runId, count);
        await eventually(
          async () => {
            assert.deepEqual(await walClaims(c, p), claims.slice(0, 1), 'removed volumes deleted, the kept one stays');
            assert.deepEqual(await drainJobs(c, p), [], 'drain Jobs deleted');
            const s = await c.getPipeline(p);
            assert.deepEqual(s.status?.walDrains ?? [], []);
            assert.notEqual(condition(s, 'Progressing')?.reason, 'DrainingRemovedWorkers');
          },
          { timeoutMs: 60_000, intervalMs: 250, what: 'removed volumes drained and released' },
        );
        t.diagnostic(`drained and released ${seconds(t0)} after the scale-down`);
        outcome(t, 'scaledown', summary.acked, a);
      });
      // Pipelines of one file share their topics and table: this one must not take the next scenario's load.
      const del = await kubectl(['delete', 'ingestpipeline', p, '-n', c.ns, '--wait=true', '--timeout=60s']);
      assert.equal(del.code, 0, del.stderr);
    }));

  test('scaled back up before the drain finished: the drain Job goes, the returning worker flushes its own volume', async (t) =>
    c.scenario(t, async () => {
      const p = `${name}-u`;
      const flusher = { retry: { initialBackoff: '100ms', maxBackoff: '1s' } };
      await apply(c.ns, c.pipeline(flusher, { name: p, replicas: 2, grace: 10 }));
      await c.awaitPipelineReady(1, p, 2);
      const claims = [0, 1].map((n) => `wal-${p}-worker-${n}`);
      const replicas = async (n: number) => {
        const r = await kubectl([
          'patch',
          'ingestpipeline',
          p,
          '-n',
          c.ns,
          '--type=merge',
          '-p',
          `{"spec":{"replicas":${n}}}`,
        ]);
        assert.equal(r.code, 0, r.stderr);
      };
      const runId = `rescale${id}`;
      const count = 2000;
      await withPostgresDown(async (startPostgres) => {
        const summary = await c.load(runId, count, 2000);
        assert.equal(summary.acked, count);
        await replicas(1);
        await eventually(
          async () => {
            const d = (await c.getPipeline(p)).status?.walDrains ?? [];
            assert.equal(d[0]?.claim, claims[1]);
            assert.ok((d[0]?.failedAttempts ?? 0) > 0, `a drain attempt failed: ${d[0]?.message}`);
          },
          { timeoutMs: 90_000, intervalMs: 250, what: 'a drain Job retrying while PostgreSQL is down' },
        );
        await replicas(2);
        await eventually(
          async () => {
            assert.deepEqual(await drainJobs(c, p), [], 'the drain Job of the returning ordinal is deleted');
            assert.deepEqual((await c.getPipeline(p)).status?.walDrains ?? [], []);
            const back = (await c.workerPods(p)).find((x) => x.metadata?.name === `${p}-worker-1`);
            assert.equal(
              back?.spec?.volumes?.find((v) => v.name === 'wal')?.persistentVolumeClaim?.claimName,
              claims[1],
            );
          },
          { timeoutMs: 60_000, intervalMs: 250, what: 'the Job gone and worker 1 back on its volume' },
        );
        await startPostgres();
        const a = await c.awaitAllStored(runId, count);
        assert.deepEqual(await walClaims(c, p), claims, 'both volumes kept: both ordinals run');
        t.diagnostic(
          `scaled 2 → 1 → 2 during the outage: ${count} acknowledged, all stored, ${a.duplicates} duplicates`,
        );
      });
    }));
});
