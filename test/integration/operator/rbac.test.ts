// The generated ClusterRole is enough: an operator running as a ServiceAccount with exactly the rules of
// the generated RBAC of operator/manifests.ts (bound in one namespace: the namespaced mode) reconciles a pipeline fully,
// including the worker Role it creates (RBAC only lets it grant what it holds), without one 403.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { dump, load } from 'js-yaml';
import { OPERATOR_NAME, operatorManifests } from '../../../operator/manifests.ts';
import type { KubeObject } from '../../../operator/runtime/kube.ts';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, childPaths, condition, type OperatorProcess, startOperator } from '../../lib/kube.ts';
import { apiPipeline } from '../../lib/pipelines.ts';
import { cleanUp, client, getPipeline, pipelineNamespace } from './operator-setup.ts';

describe('operator RBAC', () => {
  let ns: string;
  let op: OperatorProcess | undefined;
  const kubeconfigFile = `${requireEnv('TEST_ENV_DIR')}/kubeconfig-rbac-test`;

  before(async () => {
    ns = await pipelineNamespace('rbac');
    const manifests = operatorManifests()['rbac.yaml'] as KubeObject[];
    const clusterRole = manifests.find((m) => m.kind === 'ClusterRole');
    const leaseRole = manifests.find((m) => m.kind === 'Role');
    assert.ok(clusterRole && leaseRole);
    await client.request('PATCH', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${OPERATOR_NAME}`, {
      query: { fieldManager: 'rbac-test', force: true },
      body: clusterRole,
      contentType: 'application/apply-patch+yaml',
    });
    const sa = 'op-under-test';
    await apply(
      ns,
      [
        `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ${sa}}\n`,
        dump({ ...leaseRole, metadata: { name: 'leases' } }),
        dump({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'leases' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leases' },
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
        }),
        // Namespaced mode: the ClusterRole's rules, granted in this namespace only.
        dump({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'operator' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: OPERATOR_NAME },
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
        }),
      ].join('---\n'),
    );
    const token = await client.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } } },
    );
    const admin = load(readFileSync(requireEnv('KUBECONFIG'), 'utf8')) as {
      users: Array<{ name: string; user: Record<string, unknown> }>;
    };
    admin.users = [{ name: 'admin', user: { token: token.status.token } }];
    writeFileSync(kubeconfigFile, dump(admin), { mode: 0o600 });
  });

  after(async () => {
    await op?.stop();
    await cleanUp(ns);
  });

  test('the generated rules suffice in namespaced mode', async () => {
    op = startOperator(['--watch-namespace', ns, '--lease-namespace', ns, '--lease-name', OPERATOR_NAME], {
      KUBECONFIG: kubeconfigFile,
    });
    await op.waitForLog(/caches synced/);
    await apply(ns, apiPipeline(ns, 'rbac'));
    for (const path of childPaths(ns, 'rbac')) await eventually(() => client.request('GET', path), { what: path });
    await eventually(
      async () => {
        const p = await getPipeline(ns, 'rbac');
        assert.equal(condition(p, 'Degraded')?.status, 'False');
      },
      { what: 'status written' },
    );
    const forbidden = op.logs.filter((l) => /403|forbidden/i.test(l));
    assert.deepEqual(forbidden, []);
  });
});
