// Shared by the operator's integration tests (real kube-apiserver of `make test-env`): namespaces, the CRD,
// operator child processes, and envtest-style readiness (there is no kubelet: tests write workload status).

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dump } from 'js-yaml';
import { kubectl, REPO_ROOT, requireEnv } from './env.ts';

export { ensureCrd } from './env.ts';

import type { WalDrainStatus } from '../../api/types.ts';
import { kubeconfigAuth } from '../../common/kube-auth.ts';
import { KubeClient, type KubeObject } from '../../operator/runtime/kube.ts';
import { eventually } from './eventually.ts';

export async function kubeClient(): Promise<KubeClient> {
  return new KubeClient(await kubeconfigAuth([requireEnv('KUBECONFIG')]));
}

export async function createNamespace(prefix: string): Promise<string> {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  const r = await kubectl(['create', 'namespace', ns]);
  if (r.code !== 0) throw new Error(`creating namespace ${ns} failed: ${r.stderr}`);
  return ns;
}

export async function deleteNamespace(ns: string): Promise<void> {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
}

/** kubectl apply in namespace `ns` of YAML text or objects (several make one multi-document stream). */
export async function apply(ns: string, ...docs: Array<string | object>): Promise<void> {
  const yaml = docs.map((d) => (typeof d === 'string' ? d : dump(d))).join('\n---\n');
  const r = await kubectl(['apply', '-n', ns, '-f', '-'], yaml);
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}\n${yaml}`);
}

export function secretYaml(name: string, data: Record<string, string>): string {
  const lines = Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  return `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}}\nstringData:\n${lines.join('\n')}\n`;
}

/** Creates or updates Secrets from name → key → value (for example test/lib/pipelines.ts envSecrets()). */
export async function applySecrets(ns: string, secrets: Record<string, Record<string, string>>): Promise<void> {
  await apply(ns, ...Object.entries(secrets).map(([name, data]) => secretYaml(name, data)));
}

export const paths = {
  pipeline: (ns: string, name: string) => `/apis/mqtt2pg.io/v1alpha1/namespaces/${ns}/ingestpipelines/${name}`,
  deployment: (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`,
  statefulset: (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/statefulsets/${name}`,
  configmap: (ns: string, name: string) => `/api/v1/namespaces/${ns}/configmaps/${name}`,
  secret: (ns: string, name: string) => `/api/v1/namespaces/${ns}/secrets/${name}`,
  service: (ns: string, name: string) => `/api/v1/namespaces/${ns}/services/${name}`,
  serviceaccount: (ns: string, name: string) => `/api/v1/namespaces/${ns}/serviceaccounts/${name}`,
  role: (ns: string, name: string) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/${name}`,
  rolebinding: (ns: string, name: string) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/${name}`,
  pdb: (ns: string, name: string) => `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/${name}`,
  networkpolicy: (ns: string, name: string) => `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${name}`,
  lease: (ns: string, name: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`,
};

/** Every child path of pipeline `name` with PgBouncer on and the default (persistent) WAL. */
export const childPaths = (ns: string, name: string) => [
  paths.serviceaccount(ns, `${name}-worker`),
  paths.role(ns, `${name}-worker`),
  paths.rolebinding(ns, `${name}-worker`),
  paths.configmap(ns, `${name}-worker-config`),
  paths.configmap(ns, `${name}-pgbouncer-config`),
  paths.secret(ns, `${name}-pgbouncer-auth`),
  paths.secret(ns, `${name}-pgbouncer-admin`),
  paths.deployment(ns, `${name}-pgbouncer`),
  paths.service(ns, `${name}-pgbouncer`),
  paths.statefulset(ns, `${name}-worker`),
  paths.pdb(ns, `${name}-worker`),
  paths.networkpolicy(ns, `${name}-worker`),
  paths.networkpolicy(ns, `${name}-pgbouncer`),
];

export interface PipelineObject extends KubeObject {
  status?: {
    observedGeneration?: number;
    conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
    readyReplicas?: number;
    replicas?: number;
    flushers?: number;
    poolSize?: number;
    walDrains?: WalDrainStatus[];
  };
}

export const condition = (p: PipelineObject, type: string) => p.status?.conditions?.find((c) => c.type === type);

/**
 * Field managers other than kubectl that wrote anything of the pipeline besides its status and
 * metadata.finalizers (the operator's drain finalizer), with what they wrote: GitOps owns the rest.
 */
export function writersBeyondStatus(p: KubeObject): string[] {
  type Entry = { manager: string; subresource?: string; fieldsV1?: Record<string, Record<string, unknown>> };
  const entries = (p.metadata.managedFields as Entry[] | undefined) ?? [];
  return entries
    .filter((m) => !m.manager.startsWith('kubectl') && m.subresource !== 'status')
    .filter((m) => {
      const { 'f:metadata': meta, ...rest } = m.fieldsV1 ?? {};
      return Object.keys(rest).length > 0 || Object.keys(meta ?? {}).some((k) => k !== 'f:finalizers');
    })
    .map((m) => `${m.manager}: ${JSON.stringify(m.fieldsV1)}`);
}

/** Plays the Deployment/StatefulSet controller and kubelet: reports every replica updated and ready. */
export async function markWorkloadReady(client: KubeClient, path: string): Promise<void> {
  const w = await client.request<KubeObject & { spec: { replicas?: number } }>('GET', path);
  const n = w.spec.replicas ?? 1;
  const isSts = path.includes('/statefulsets/');
  const status = {
    observedGeneration: w.metadata.generation,
    replicas: n,
    updatedReplicas: n,
    readyReplicas: n,
    availableReplicas: n,
    ...(isSts ? { currentReplicas: n, currentRevision: 'r1', updateRevision: 'r1' } : {}),
  };
  await client.request('PATCH', `${path}/status`, {
    body: { status },
    contentType: 'application/merge-patch+json',
  });
}

export interface OperatorProcess {
  child: ChildProcess;
  logs: string[];
  /** host:port of /metrics once the operator logged it. */
  address(): Promise<string>;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** `entry`: the CLI to run, the TypeScript source by default (the bench runs the compiled dist/cli/main.js, as a pod does). */
export function startOperator(
  args: string[],
  env: Record<string, string> = {},
  entry = 'cli/main.ts',
): OperatorProcess {
  const child = spawn(process.execPath, [entry, 'operator', '--listen', '127.0.0.1:0', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, KUBECONFIG: requireEnv('KUBECONFIG'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    logs.push(...lines.filter(Boolean));
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitForLog = (pattern: RegExp, timeoutMs = 30_000) =>
    eventually(
      async () => {
        const line = logs.find((l) => pattern.test(l));
        if (!line) throw new Error(`no log line matches ${pattern}; last lines:\n${logs.slice(-5).join('\n')}`);
        return line;
      },
      { timeoutMs, what: `operator log ${pattern}` },
    );
  return {
    child,
    logs,
    exited,
    waitForLog,
    async address() {
      const line = await waitForLog(/serving \/metrics/);
      return (JSON.parse(line) as { address: string }).address;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function metricsText(op: OperatorProcess): Promise<string> {
  const res = await fetch(`http://${await op.address()}/metrics`);
  return res.text();
}
