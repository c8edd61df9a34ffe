// The informer against the real API server, through a TCP proxy the test can freeze: a watch whose connection
// goes silent (as a half-open connection to a vanished API server does) is restarted by the client-side
// inactivity timeout, and a watch from a compacted resourceVersion (410 Gone) relists; neither loses a change.

import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { kubeconfigAuth, withServer } from '../../../common/kube-auth.ts';
import { Informer } from '../../../operator/runtime/informer.ts';
import { KubeClient, type KubeObject } from '../../../operator/runtime/kube.ts';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { createNamespace, deleteNamespace, kubeClient } from '../../lib/kube.ts';

const CONFIGMAPS = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };

/** Forwards TCP to the API server; freeze() stops forwarding on open connections without closing them. */
class FreezableProxy {
  private readonly server: Server;
  private readonly pairs: Array<[Socket, Socket]> = [];
  private readonly frozen: Array<[Socket, Socket]> = [];
  port = 0;
  constructor(target: URL) {
    this.server = createServer((inbound) => {
      const outbound = connect(Number(target.port), target.hostname);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      const close = () => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on('error', close);
      outbound.on('error', close);
      this.pairs.push([inbound, outbound]);
    });
  }
  listen(): Promise<void> {
    return new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () => {
        const a = this.server.address();
        this.port = typeof a === 'object' && a ? a.port : 0;
        resolve();
      }),
    );
  }
  freeze(): void {
    for (const [i, o] of this.pairs.splice(0)) {
      this.frozen.push([i, o]);
      i.unpipe(o);
      o.unpipe(i);
      i.pause();
      o.pause();
    }
  }
  close(): void {
    for (const [i, o] of [...this.pairs, ...this.frozen]) {
      i.destroy();
      o.destroy();
    }
    this.server.close();
  }
}

const direct = await kubeClient();

describe('informer recovery', () => {
  let ns: string;
  let proxy: FreezableProxy;
  let viaProxy: KubeClient;

  before(async () => {
    ns = await createNamespace('inf');
    const auth = await kubeconfigAuth([requireEnv('KUBECONFIG')]);
    proxy = new FreezableProxy(auth.server);
    await proxy.listen();
    viaProxy = new KubeClient(withServer(auth, `https://127.0.0.1:${proxy.port}`));
  });

  after(async () => {
    proxy?.close();
    viaProxy?.close();
    direct.close();
    if (ns) await deleteNamespace(ns);
  });

  const configMap = (name: string, v: string) =>
    direct.request('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { v } },
    });

  test('a silently dead watch is restarted by the inactivity timeout without losing a change', async () => {
    const restarts: string[] = [];
    const seen = new Map<string, string>();
    const inf = new Informer<KubeObject & { data?: Record<string, string> }>(viaProxy, CONFIGMAPS, {
      namespace: ns,
      idleTimeoutMs: 1500,
      watchTimeoutSeconds: 120,
      onRestart: (r) => restarts.push(r),
    });
    inf.addHandlers({
      onAdd: (o) => seen.set(o.metadata.name, o.data?.v ?? ''),
      onUpdate: (o) => seen.set(o.metadata.name, o.data?.v ?? ''),
    });
    inf.start();
    await inf.waitForSync();
    await configMap('before', '1');
    await eventually(async () => assert.equal(seen.get('before'), '1'), { what: 'event through the live watch' });

    proxy.freeze();
    await configMap('during', '2');
    await eventually(async () => assert.equal(seen.get('during'), '2'), {
      what: 'change made while the watch was silent',
      timeoutMs: 15_000,
    });
    assert.ok(restarts.includes('idle'), `restarts: ${restarts.join(',')}`);
    await inf.stop();
  });

  test('410 Gone relists: changes made meanwhile arrive, deletions included', async () => {
    const restarts: string[] = [];
    const deleted: string[] = [];
    const inf = new Informer(direct, CONFIGMAPS, { namespace: ns, onRestart: (r) => restarts.push(r) });
    inf.addHandlers({ onDelete: (o) => deleted.push(o.metadata.name) });
    inf.start();
    await inf.waitForSync();
    assert.ok(inf.get(`${ns}/before`));
    await inf.stop();

    await direct.request('DELETE', `/api/v1/namespaces/${ns}/configmaps/before`);
    await configMap('while-stopped', '3');
    // A resourceVersion long compacted out of the watch cache: the API server answers 410 Gone.
    inf.resumeFrom('1');
    inf.start();
    await eventually(
      async () => {
        assert.ok(inf.get(`${ns}/while-stopped`));
        assert.equal(inf.get(`${ns}/before`), undefined);
      },
      { what: 'relist after 410' },
    );
    assert.ok(restarts.includes('expired'), `restarts: ${restarts.join(',')}`);
    assert.deepEqual(deleted, ['before']);
    await inf.stop();
  });

  test('the index finds objects by their label as they are created, relabelled and deleted', async () => {
    const inf = new Informer(direct, CONFIGMAPS, {
      namespace: ns,
      labelSelector: 'owner',
      indexBy: (o) => o.metadata.labels?.owner,
    });
    inf.start();
    await inf.waitForSync();
    const path = (name: string) => `/api/v1/namespaces/${ns}/configmaps/${name}`;
    for (const [name, owner] of [
      ['idx-a', 'p1'],
      ['idx-b', 'p1'],
      ['idx-c', 'p2'],
    ]) {
      await direct.request('POST', `/api/v1/namespaces/${ns}/configmaps`, {
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { owner } } },
      });
    }
    const owned = (owner: string) =>
      inf
        .byIndex(owner)
        .map((o) => o.metadata.name)
        .sort();
    await eventually(async () => assert.deepEqual([owned('p1'), owned('p2')], [['idx-a', 'idx-b'], ['idx-c']]), {
      what: 'created objects indexed by owner',
    });

    await direct.request('PATCH', path('idx-b'), {
      body: { metadata: { labels: { owner: 'p2' } } },
      contentType: 'application/merge-patch+json',
    });
    await direct.request('DELETE', path('idx-a'));
    await eventually(async () => assert.deepEqual([owned('p1'), owned('p2')], [[], ['idx-b', 'idx-c']]), {
      what: 'relabelled object moved, deleted object gone',
    });
    await inf.stop();
  });

  test('a stopped and restarted informer resumes from its resourceVersion', async () => {
    const added: string[] = [];
    const inf = new Informer(direct, CONFIGMAPS, { namespace: ns });
    inf.addHandlers({ onAdd: (o) => added.push(o.metadata.name) });
    inf.start();
    await inf.waitForSync();
    await inf.stop();
    added.length = 0;
    await configMap('after-resume', '4');
    inf.start();
    await eventually(async () => assert.deepEqual(added, ['after-resume']), {
      what: 'resumed watch delivers the change',
    });
    await inf.stop();
  });
});
