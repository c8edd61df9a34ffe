// A DELETE with DeleteOptions against the real API server. Node sends a DELETE body without Content-Length or
// chunked encoding unless told its length, so the API server saw a DELETE without options (no uid
// precondition, no propagation policy) and read the body as the start of the next request on the connection,
// which failed with a plain-text "400 Bad Request". The operator deletes WAL volumes only with a uid
// precondition: it must hold.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { deleteObject } from '../../../operator/apply.ts';
import { ApiError, type KubeClient } from '../../../operator/runtime/kube.ts';
import { createNamespace, deleteNamespace, kubeClient } from '../../lib/kube.ts';

const CONFIGMAPS = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
let client: KubeClient;
let ns = '';

before(async () => {
  client = await kubeClient();
  ns = await createNamespace('delete-options');
});
after(async () => {
  if (ns) await deleteNamespace(ns);
});

test("a delete with another object's uid is refused, and the next request on the connection is unharmed", async () => {
  const path = `/api/v1/namespaces/${ns}/configmaps`;
  const cm = await client.request<{ metadata: { name: string; uid: string } }>('POST', path, {
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep' }, data: { a: '1' } },
  });
  const stale = {
    kind: 'ConfigMap',
    metadata: { name: 'keep', namespace: ns, uid: `${cm.metadata.uid.slice(0, -1)}0` },
  };
  await assert.rejects(
    deleteObject(client, stale, CONFIGMAPS),
    (e: Error) => e instanceof ApiError && e.status === 409,
    'the uid precondition holds',
  );
  const again = await client.request<{ metadata: { uid: string } }>('GET', `${path}/keep`);
  assert.equal(again.metadata.uid, cm.metadata.uid, 'still there, and read on the same connection');
  await deleteObject(
    client,
    { kind: 'ConfigMap', metadata: { name: 'keep', namespace: ns, uid: cm.metadata.uid } },
    CONFIGMAPS,
  );
  const list = await client.request<{ items: unknown[] }>('GET', path);
  assert.deepEqual(list.items, [], 'deleted with the right uid');
});
