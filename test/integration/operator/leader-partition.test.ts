// A leader cut off from the API server (its connection goes silent, requests hang) must step down before a
// standby can take the Lease over, or two operators reconcile at once. The leader's renewal attempt may hang
// for longer than the gap between --renew-deadline and --lease-duration; the deadline still has to win.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dump, load } from 'js-yaml';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { type OperatorProcess, paths, startOperator } from '../../lib/kube.ts';
import { SilentProxy } from '../../lib/silent-proxy.ts';
import { cleanUp, client, pipelineNamespace } from './operator-setup.ts';

// The leader's renewal attempt can hang for 2 × its retry period (3 s), longer than the 1 s gap between its
// renew deadline (2 s) and the lease (3 s). The standby polls often, so it sees the last renewal at once and
// takes over 3 s after it.
const LEADER = ['--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '1500ms'];
const STANDBY = ['--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '250ms'];

type Kubeconfig = { clusters: Array<{ cluster: { server: string } }> };
type Lease = { spec: { acquireTime?: string; renewTime?: string } };

/** A copy of the test kubeconfig whose API server address is the proxy's. */
function kubeconfigThrough(proxy: SilentProxy, dir: string): string {
  const config = load(readFileSync(requireEnv('KUBECONFIG'), 'utf8')) as Kubeconfig;
  for (const c of config.clusters) {
    const url = new URL(c.cluster.server);
    url.port = String(proxy.port);
    c.cluster.server = url.origin;
  }
  const path = `${dir}/kubeconfig-through-proxy`;
  writeFileSync(path, dump(config), { mode: 0o600 });
  return path;
}

const logTime = (line: string): number => (JSON.parse(line) as { time: number }).time;

describe('leader election under a partition', () => {
  let ns: string;
  let proxy: SilentProxy;
  const ops: OperatorProcess[] = [];

  before(async () => {
    ns = await pipelineNamespace('leaderpart');
    const config = load(readFileSync(requireEnv('KUBECONFIG'), 'utf8')) as Kubeconfig;
    const server = new URL(config.clusters[0]?.cluster.server ?? '');
    proxy = await SilentProxy.start(0, { host: server.hostname, port: Number(server.port) });
  });

  after(async () => {
    for (const op of ops) await op.stop('SIGKILL');
    await proxy.close();
    await cleanUp(ns);
  });

  test('a leader whose API server goes silent steps down before the standby takes the Lease', async () => {
    const args = (identity: string, timing: string[]) => [
      ...['--watch-namespace', ns, '--lease-namespace', ns, '--identity', identity],
      ...timing,
    ];
    const kubeconfig = kubeconfigThrough(proxy, mkdtempSync(join(tmpdir(), 'mqtt2pg-leader-')));
    const a = startOperator(args('op-a', LEADER), { KUBECONFIG: kubeconfig });
    ops.push(a);
    await a.waitForLog(/became the leader/);
    const b = startOperator(args('op-b', STANDBY));
    ops.push(b);
    await b.waitForLog(/another operator is the leader; standing by/);

    // While the API server answers, the leader keeps renewing past its renew deadline without a failure.
    await eventually(
      async () => {
        const lease = await client.request<Lease>('GET', paths.lease(ns, 'mqtt2pg-operator'));
        const held = Date.parse(lease.spec.renewTime ?? '') - Date.parse(lease.spec.acquireTime ?? '');
        assert.ok(held > 3000, `op-a renewed for ${held} ms`);
      },
      { timeoutMs: 15_000, what: 'op-a renewing for longer than its renew deadline' },
    );
    assert.deepEqual(
      a.logs.filter((l) => /renewing the Lease failed|stepping down/.test(l)),
      [],
      'no failed renewal while the API server answers',
    );

    proxy.silence();
    const tookOver = await b.waitForLog(/became the leader/, 15_000);
    const steppedDown = await a.waitForLog(/lost the leader Lease/, 15_000);
    assert.ok(
      logTime(steppedDown) < logTime(tookOver),
      `the old leader stepped down at ${logTime(steppedDown)}, ${logTime(steppedDown) - logTime(tookOver)} ms after the new one took over at ${logTime(tookOver)}: both led at once`,
    );
    assert.equal(await a.exited, 1, 'the old leader exits non-zero so its pod restarts as a candidate');
  });
});
