// The operator's RBAC as the chart installs it, checked by the real kube-apiserver (RBAC on), for both install
// modes: SubjectAccessReviews (what `kubectl auth can-i --as system:serviceaccount:...` asks) for what the
// operator's ServiceAccount may and may not do, and the operator itself running under the namespaced install's
// token: it reconciles a pipeline of its namespace fully, without one 403, and ignores one outside it.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { dump, load, loadAll } from 'js-yaml';
import type { KubeObject } from '../../../operator/runtime/kube.ts';
import { helmTemplate } from '../../../scripts/packaging/generate.ts';
import { kubectl, requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { HELM } from '../../lib/helm.ts';
import { apply, childPaths, condition, createNamespace, type OperatorProcess, startOperator } from '../../lib/kube.ts';
import { apiPipeline } from '../../lib/pipelines.ts';
import { client, exists, getPipeline, pipelineNamespace } from './operator-setup.ts';

const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

/** The chart's RBAC objects for release `name` installed into `ns` (helm template, as a user would). */
function chartRbac(name: string, ns: string, watch: string[]): KubeObject[] {
  const args = ['--namespace', ns, '--set', `fullnameOverride=${name}`];
  if (watch.length) args.push('--set', `operator.watchNamespaces={${watch.join(',')}}`);
  return (loadAll(helmTemplate(HELM, args)) as Array<KubeObject | null>).filter(
    (d): d is KubeObject => d !== null && RBAC_KINDS.has(String(d.kind)),
  );
}

interface Attrs {
  verb: string;
  resource: string;
  group?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** `kubectl auth can-i VERB RESOURCE --as system:serviceaccount:NS:SA` as one SubjectAccessReview. */
async function canI(ns: string, sa: string, a: Attrs): Promise<boolean> {
  const review = await client.request<{ status: { allowed: boolean } }>(
    'POST',
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: `system:serviceaccount:${ns}:${sa}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
          resourceAttributes: { group: a.group ?? '', ...a },
        },
      },
    },
  );
  return review.status.allowed;
}

const describeAttrs = (a: Attrs) =>
  `${a.verb} ${a.group ? `${a.resource}.${a.group}` : a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.name ? `/${a.name}` : ''} in ${a.namespace ?? 'all namespaces'}`;

async function assertMatrix(ns: string, sa: string, cases: Array<[boolean, Attrs]>) {
  const wrong: string[] = [];
  for (const [want, a] of cases) {
    if ((await canI(ns, sa, a)) !== want) wrong.push(`${want ? 'may not' : 'may'} ${describeAttrs(a)}`);
  }
  assert.deepEqual(wrong, [], `the operator's ServiceAccount ${ns}/${sa}`);
}

describe('operator RBAC: both install modes against the real API server', () => {
  const id = randomBytes(3).toString('hex');
  const cw = `rbac-${id}-cw`;
  const nsd = `rbac-${id}-ns`;
  let opNs: string;
  let watched: string;
  let other: string;
  let op: OperatorProcess | undefined;
  const kubeconfigFile = `${requireEnv('TEST_ENV_DIR')}/kubeconfig-rbac-test`;

  before(async () => {
    opNs = await createNamespace('rbac-op');
    watched = await pipelineNamespace('rbac-w');
    other = await pipelineNamespace('rbac-o');
    // Server-side apply as admin: the API server's RBAC checks (escalation included) apply to the objects.
    const docs = [...chartRbac(cw, opNs, []), ...chartRbac(nsd, opNs, [watched])];
    const r = await kubectl(['apply', '--server-side', '-f', '-'], docs.map((d) => `---\n${dump(d)}`).join(''));
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    await op?.stop();
    await kubectl(['delete', 'clusterrole,clusterrolebinding', cw, '--ignore-not-found']);
    for (const n of [opNs, watched, other]) if (n) await kubectl(['delete', 'namespace', n, '--wait=false']);
    client.close();
  });

  // Never, in either mode: run a command in a pod, create pods directly (only through its workloads), touch
  // cluster-scoped RBAC, escalate or bind roles it does not hold, create or update PVCs (it only grows them:
  // patch, docs/operator.md "Resizing the WAL volumes"), or read nodes.
  const never = (ns: string): Array<[boolean, Attrs]> => [
    [false, { verb: 'create', resource: 'pods', subresource: 'exec', namespace: ns }],
    [false, { verb: 'create', resource: 'pods', namespace: ns }],
    [false, { verb: 'delete', resource: 'pods', namespace: ns }],
    [false, { verb: 'create', resource: 'clusterroles', group: 'rbac.authorization.k8s.io' }],
    [false, { verb: 'create', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io' }],
    [false, { verb: 'escalate', resource: 'roles', group: 'rbac.authorization.k8s.io', namespace: ns }],
    [false, { verb: 'bind', resource: 'roles', group: 'rbac.authorization.k8s.io', namespace: ns }],
    [false, { verb: 'impersonate', resource: 'serviceaccounts', namespace: ns }],
    [false, { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: ns }],
    [false, { verb: 'update', resource: 'ingestpipelines', group: 'mqtt2pg.io', namespace: ns }],
    [false, { verb: 'create', resource: 'persistentvolumeclaims', namespace: ns }],
    [false, { verb: 'update', resource: 'persistentvolumeclaims', namespace: ns }],
    [false, { verb: 'get', resource: 'nodes' }],
    [false, { verb: 'create', resource: 'customresourcedefinitions', group: 'apiextensions.k8s.io' }],
  ];

  test('namespaced mode: its rules in the watched namespace only, nothing cluster-wide', async () => {
    await assertMatrix(opNs, nsd, [
      [true, { verb: 'patch', resource: 'statefulsets', group: 'apps', namespace: watched }],
      [true, { verb: 'list', resource: 'ingestpipelines', group: 'mqtt2pg.io', namespace: watched }],
      [
        true,
        { verb: 'patch', resource: 'ingestpipelines', group: 'mqtt2pg.io', subresource: 'status', namespace: watched },
      ],
      [true, { verb: 'get', resource: 'secrets', namespace: watched }],
      [true, { verb: 'create', resource: 'roles', group: 'rbac.authorization.k8s.io', namespace: watched }],
      [true, { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', namespace: opNs, name: nsd }],
      [true, { verb: 'patch', resource: 'persistentvolumeclaims', namespace: watched }],
      [false, { verb: 'patch', resource: 'statefulsets', group: 'apps', namespace: other }],
      [false, { verb: 'patch', resource: 'persistentvolumeclaims', namespace: other }],
      [false, { verb: 'create', resource: 'deployments', group: 'apps', namespace: other }],
      [false, { verb: 'get', resource: 'secrets', namespace: other }],
      [false, { verb: 'list', resource: 'secrets' }],
      [false, { verb: 'list', resource: 'ingestpipelines', group: 'mqtt2pg.io' }],
      [false, { verb: 'list', resource: 'statefulsets', group: 'apps' }],
      [false, { verb: 'get', resource: 'secrets', namespace: opNs }],
      [false, { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', namespace: opNs, name: 'other' }],
      [false, { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', namespace: watched, name: nsd }],
      ...never(watched),
    ]);
  });

  test('cluster-wide mode: the same rules in every namespace, still never exec, pods or cluster RBAC', async () => {
    await assertMatrix(opNs, cw, [
      [true, { verb: 'patch', resource: 'statefulsets', group: 'apps', namespace: other }],
      [true, { verb: 'list', resource: 'secrets' }],
      [true, { verb: 'list', resource: 'ingestpipelines', group: 'mqtt2pg.io' }],
      [true, { verb: 'patch', resource: 'persistentvolumeclaims', namespace: other }],
      [true, { verb: 'create', resource: 'rolebindings', group: 'rbac.authorization.k8s.io', namespace: other }],
      [true, { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', namespace: opNs, name: cw }],
      [false, { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', namespace: other, name: cw }],
      [false, { verb: 'update', resource: 'secrets', namespace: other }],
      [false, { verb: 'update', resource: 'statefulsets', group: 'apps', namespace: other }],
      ...never(other),
    ]);
  });

  test('namespaced mode running: reconciles its namespace without a 403 and ignores a pipeline outside it', async () => {
    const token = await client.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${opNs}/serviceaccounts/${nsd}/token`,
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } } },
    );
    const kubeconfig = load(readFileSync(requireEnv('KUBECONFIG'), 'utf8')) as {
      users: Array<{ name: string; user: Record<string, unknown> }>;
    };
    kubeconfig.users = [{ name: 'admin', user: { token: token.status.token } }];
    writeFileSync(kubeconfigFile, dump(kubeconfig), { mode: 0o600 });
    // The flags the chart's Deployment passes in this mode.
    op = startOperator(['--watch-namespace', watched, '--lease-namespace', opNs, '--lease-name', nsd], {
      KUBECONFIG: kubeconfigFile,
    });
    await op.waitForLog(/caches synced/);
    // The outside one first: by the time the watched one is reconciled, it would have been too.
    await apply(other, apiPipeline(other, 'outside'));
    await apply(watched, apiPipeline(watched, 'inside'));
    for (const path of childPaths(watched, 'inside')) {
      await eventually(() => client.request('GET', path), { what: path });
    }
    await eventually(
      async () => assert.equal(condition(await getPipeline(watched, 'inside'), 'Degraded')?.status, 'False'),
      { what: 'status written' },
    );
    assert.equal((await getPipeline(other, 'outside')).status, undefined, 'the outside pipeline has no status');
    for (const path of childPaths(other, 'outside')) assert.equal(await exists(path), false, `${path} exists`);
    assert.deepEqual(
      op.logs.filter((l) => /403|forbidden/i.test(l)),
      [],
    );
  });
});
