import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inClusterAuth, kubeconfigAuth } from './kube-auth.ts';

const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));

test('a kubeconfig with a token and CA data gives the server, the CA and a bearer header', async () => {
  const file = join(dir, 'a');
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
current-context: c
clusters: [{name: k, cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: ${Buffer.from('CA').toString('base64')}}}]
users: [{name: u, user: {token: t0k3n}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
`,
  );
  const auth = await kubeconfigAuth([file]);
  assert.equal(auth.server.href, 'https://10.0.0.1:6443/');
  const o = await auth.options();
  assert.equal(String(o.ca), 'CA');
  const headers = o.headers as Record<string, string>;
  assert.equal(headers.Authorization ?? headers.authorization, 'Bearer t0k3n');
});

test('client certificate files resolve relative to the kubeconfig', async () => {
  writeFileSync(join(dir, 'client.crt'), 'CERT');
  writeFileSync(join(dir, 'client.key'), 'KEY');
  const file = join(dir, 'b');
  writeFileSync(
    file,
    `current-context: c
clusters: [{name: k, cluster: {server: "https://h:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {client-certificate: client.crt, client-key: client.key}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
`,
  );
  const o = await (await kubeconfigAuth([file])).options();
  assert.equal(String(o.cert), 'CERT');
  assert.equal(String(o.key), 'KEY');
  assert.equal(o.rejectUnauthorized, false);
  const headers = (o.headers ?? {}) as Record<string, string>;
  assert.equal(headers.Authorization ?? headers.authorization, undefined);
});

test('a kubeconfig without a current context says how to set one', async () => {
  const file = join(dir, 'c');
  writeFileSync(file, 'clusters: []\n');
  await assert.rejects(kubeconfigAuth([file]), /no current-context; set one with kubectl config use-context/);
});

test('a token file (relative to the kubeconfig) gives the bearer header', async () => {
  writeFileSync(join(dir, 'token'), 'from-file\n');
  const file = join(dir, 'd');
  writeFileSync(
    file,
    `current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {tokenFile: token}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
`,
  );
  const headers = (await (await kubeconfigAuth([file])).options()).headers as Record<string, string>;
  assert.equal(headers.Authorization, 'Bearer from-file');
});

test("a pod's service account: the Service address, the mounted CA and token", async () => {
  const sa = mkdtempSync(join(tmpdir(), 'sa-'));
  writeFileSync(join(sa, 'token'), 'sa-token');
  writeFileSync(join(sa, 'ca.crt'), 'SA-CA');
  process.env.KUBERNETES_SERVICE_HOST = 'fd00::1';
  process.env.KUBERNETES_SERVICE_PORT = '6443';
  try {
    const auth = inClusterAuth(sa);
    assert.equal(auth.server.href, 'https://[fd00::1]:6443/');
    const o = await auth.options();
    assert.equal(String(o.ca), 'SA-CA');
    assert.equal((o.headers as Record<string, string>).Authorization, 'Bearer sa-token');
  } finally {
    delete process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_PORT;
  }
});

test('an exec plugin is run through @kubernetes/client-node and its token used', async () => {
  const plugin = join(dir, 'plugin.sh');
  writeFileSync(
    plugin,
    `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec"}}'\n`,
    { mode: 0o755 },
  );
  const file = join(dir, 'e');
  writeFileSync(
    file,
    `current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ${plugin}, interactiveMode: Never}}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
`,
  );
  const headers = (await (await kubeconfigAuth([file])).options()).headers as Record<string, string>;
  assert.equal(headers.Authorization ?? headers.authorization, 'Bearer from-exec');
});
