// What the operator suites share: a client of the real kube-apiserver, a namespace of their own that holds
// the Secret "pg", and (OperatorUnderTest) the operator as a process watching it. Workload readiness is
// supplied by the test (no kubelet), envtest style.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { isNotFound, type KubeObject } from '../../../operator/runtime/kube.ts';
import {
  apply,
  createNamespace,
  deleteNamespace,
  ensureCrd,
  kubeClient,
  type OperatorProcess,
  type PipelineObject,
  paths,
  secretYaml,
  startOperator,
} from '../../lib/kube.ts';

export const client = await kubeClient();
export const get = <T = KubeObject>(path: string) => client.request<T & KubeObject>('GET', path);
export const exists = async (path: string) => {
  try {
    await get(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
};
export type Deployment = KubeObject & {
  spec: {
    replicas: number;
    template: { metadata: { annotations: Record<string, string> }; spec: { containers: Array<{ image: string }> } };
  };
};
export const podHash = (d: Deployment) => d.spec.template.metadata.annotations['mqtt2pg.io/config-hash'];
export const decode = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

export const getPipeline = (ns: string, name: string) => get<PipelineObject>(paths.pipeline(ns, name));

/** The CRD, and a new namespace named `<prefix>-<random>` holding the Secret "pg" the pipelines reference. */
export async function pipelineNamespace(
  prefix: string,
  pgCredentials = { username: 'u', password: 'p' },
): Promise<string> {
  await ensureCrd();
  const ns = await createNamespace(prefix);
  await apply(ns, secretYaml('pg', pgCredentials));
  return ns;
}

/** The end of a suite: closes the shared client and deletes its namespace (if it got one). */
export async function cleanUp(ns: string | undefined): Promise<void> {
  client.close();
  if (ns) await deleteNamespace(ns);
}

/** `hooks()` inside a describe starts the namespace and operator before its tests and stops them after. */
export class OperatorUnderTest {
  ns = '';
  op!: OperatorProcess;

  hooks(): void {
    before(async () => {
      this.ns = await pipelineNamespace('op', { username: 'ingest', password: 'first-password' });
      this.op = startOperator([
        '--watch-namespace',
        this.ns,
        '--lease-namespace',
        this.ns,
        '--resync',
        '1s',
        // The image allowlist: the operator's own repository and the one operator-changes.test.ts moves to.
        '--allowed-images',
        'ghcr.io/mqtt2pg/mqtt2pg,registry.local/*',
        '--log-level',
        'debug',
      ]);
      await this.op.waitForLog(/caches synced/);
    });

    after(async () => {
      const code = await this.op?.stop();
      assert.equal(code, 0, `operator exit code; last logs:\n${this.op?.logs.slice(-10).join('\n')}`);
      await cleanUp(this.ns);
    });
  }

  pipeline(name: string) {
    return getPipeline(this.ns, name);
  }
}
