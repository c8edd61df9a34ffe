// The autoscaler's flusher count reaches a running worker through the API, without a restart: the worker
// watches its IngestPipeline in the real kube-apiserver and follows status.autoscaling.current.flushers.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { ensureCrd, kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { allStored } from '../../lib/ledger.ts';
import { publish } from '../../lib/publish.ts';
import { cleanupDirs, makePipeline, WorkerProcess } from '../../lib/worker-process.ts';

const ns = `scale-${randomBytes(3).toString('hex')}`;

before(async () => {
  await ensureCrd();
  const created = await kubectl(['create', 'namespace', ns]);
  assert.equal(created.code, 0, created.stderr);
});

after(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  cleanupDirs();
});

test('a running worker follows status.autoscaling.current.flushers live, within bounds', async () => {
  const p = makePipeline({
    namespace: ns,
    spec: { autoscaling: { enabled: true }, flusher: { flushers: 2, maxFlushers: 6 } },
  });
  const applied = await kubectl(['apply', '-f', p.file]);
  assert.equal(applied.code, 0, applied.stderr);
  const w = WorkerProcess.start(p, { env: { POD_NAMESPACE: ns } });
  await w.waitReady();
  assert.equal(await w.metric('mqtt2pg_flushers'), 2);

  const setFlushers = async (n: number) => {
    const r = await kubectl([
      'patch',
      'ingestpipeline',
      p.name,
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { autoscaling: { current: { flushers: n } } } }),
    ]);
    assert.equal(r.code, 0, r.stderr);
  };
  const flushersBecome = (n: number) =>
    eventually(async () => assert.equal(await w.metric('mqtt2pg_flushers'), n), {
      timeoutMs: 15_000,
      what: `${n} flushers`,
    });

  const pid = w.child.pid;
  const runId = `scale${randomBytes(3).toString('hex')}`;
  const publishing = publish(p.path, runId, { rate: 5000, count: 20_000, devices: 20, tenants: 2, inflight: 200 });
  await setFlushers(5);
  await flushersBecome(5);
  await setFlushers(1);
  await flushersBecome(1);
  await setFlushers(50); // above flusher.maxFlushers: clamped
  await flushersBecome(6);
  await publishing;
  const a = await allStored(p, runId, 20_000, 60_000);
  assert.equal(a.duplicates, 0);
  assert.equal(w.child.pid, pid);
  assert.match(w.output, /"from":2,"to":5,"msg":"flusher count changed by the autoscaler"/);
  w.kill('SIGTERM');
  assert.equal((await w.exited).code, 0);
});
