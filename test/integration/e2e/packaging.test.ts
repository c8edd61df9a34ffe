// What a platform engineer installs, validated by a real kube-apiserver: the chart rendered with its defaults
// and every ci/*.yaml, the kustomize install, the kind e2e's manifests, and the Argo CD Application example,
// all server-side dry runs (schemas, CEL rules, RBAC escalation checks; nothing is created). The kind e2e
// itself needs Docker (`make e2e-kind`); this is its correct-by-construction half.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dump, load, loadAll } from 'js-yaml';
import { CHART_DIR, helmTemplate, INSTALL_NAMESPACE } from '../../../scripts/packaging/generate.ts';
import { command, ensureCrd, kubectl, REPO_ROOT } from '../../lib/env.ts';
import { HELM, shellVars } from '../../lib/helm.ts';

type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  subjects?: Array<{ kind: string; namespace?: string }>;
  [k: string]: unknown;
};

const read = (p: string) => readFileSync(join(REPO_ROOT, p), 'utf8');
const docsOf = (text: string) => (loadAll(text) as Array<Doc | null>).filter((d): d is Doc => d !== null);
const toYaml = (docs: Doc[]) => docs.map((d) => `---\n${dump(d, { lineWidth: -1 })}`).join('');

// Kinds of the Prometheus Operator: the local API server has no such CRDs, so those objects are checked by
// test/packaging/chart.check.ts (rendering, metric names) instead.
const NO_CRD_HERE = new Set(['ServiceMonitor', 'PodMonitor', 'PrometheusRule']);

async function serverDryRun(docs: Doc[], what: string) {
  const r = await kubectl(['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], toYaml(docs));
  assert.equal(r.code, 0, `${what}: the API server rejects it:\n${r.stderr}`);
  return r.stdout;
}

describe('packaging against the real kube-apiserver', () => {
  const ns = `pkg-${randomBytes(3).toString('hex')}`;
  const watched = `${ns}-w`;
  const work = mkdtempSync(join(tmpdir(), 'mqtt2pg-packaging-'));

  before(async () => {
    // The CRD first, for real (as environment.test.ts does): IngestPipeline objects and the CRD's own
    // dry-run update need it.
    await ensureCrd();
    for (const n of [ns, watched]) {
      const created = await kubectl(['create', 'namespace', n]);
      assert.equal(created.code, 0, created.stderr);
    }
  });

  after(async () => {
    await kubectl(['delete', 'namespace', ns, watched, '--wait=false']);
    rmSync(work, { recursive: true, force: true });
  });

  /** The chart as release mqtt2pg, moved into this test's namespace (dry runs need it to exist). */
  function chart(args: string[] = []): Doc[] {
    return docsOf(helmTemplate(HELM, ['--namespace', ns, ...args]));
  }

  const valueFiles = readdirSync(join(REPO_ROOT, CHART_DIR, 'ci')).map((f) => `${CHART_DIR}/ci/${f}`);
  for (const vf of [undefined, ...valueFiles]) {
    test(`helm template with ${vf ?? 'the defaults'} passes a server-side dry run`, async () => {
      // watchNamespaces must name namespaces that exist; the ci file's are placeholders.
      const docs = chart([
        ...(vf ? ['-f', vf] : []),
        ...(vf?.includes('full') ? ['--set', `operator.watchNamespaces={${watched}}`] : []),
      ]);
      const applicable = docs.filter((d) => !NO_CRD_HERE.has(d.kind));
      assert.ok(applicable.some((d) => d.kind === 'Deployment'));
      const out = await serverDryRun(applicable, vf ?? 'helm template (defaults)');
      for (const d of applicable)
        assert.match(out, new RegExp(`${d.metadata.name}`), `${d.kind}/${d.metadata.name} applied`);
    });
  }

  test('manifests/install builds with kustomize and passes a server-side dry run', async () => {
    const built = await kubectl(['kustomize', 'manifests/install']);
    assert.equal(built.code, 0, `kubectl kustomize manifests/install: ${built.stderr}`);
    const docs = docsOf(built.stdout);
    assert.deepEqual([...new Set(docs.map((d) => d.kind))].sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'CustomResourceDefinition',
      'Deployment',
      'Namespace',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    // Into this test's namespace: the real one (mqtt2pg-system) may not exist, and must not be touched.
    const moved = docs
      .filter((d) => d.kind !== 'Namespace')
      .map((d) => {
        const copy = structuredClone(d);
        if (copy.metadata.namespace === INSTALL_NAMESPACE) copy.metadata.namespace = ns;
        for (const s of copy.subjects ?? []) if (s.namespace === INSTALL_NAMESPACE) s.namespace = ns;
        return copy;
      });
    await serverDryRun(moved, 'manifests/install');
    const nsDoc = docs.find((d) => d.kind === 'Namespace');
    assert.equal(nsDoc?.metadata.name, INSTALL_NAMESPACE);
  });

  test('the kind e2e manifests pass a server-side dry run in one namespace', async () => {
    const dir = 'test/kind/manifests';
    const files = readdirSync(join(REPO_ROOT, dir)).filter((f) => f.endsWith('.yaml'));
    assert.deepEqual(files.sort(), ['bucket-job.yaml', 'loadgen-job.yaml', 'pipeline.yaml', 'services.yaml']);
    const docs = files.flatMap((f) => docsOf(read(`${dir}/${f}`)));
    for (const d of docs)
      assert.equal(d.metadata.namespace, undefined, `${d.kind}/${d.metadata.name}: run.sh applies with -n`);
    const r = await kubectl(['apply', '-n', ns, '--dry-run=server', '-f', '-'], toYaml(docs));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ingestpipeline\.mqtt2pg\.io\/e2e created \(server dry run\)/);
  });

  test('the kind e2e pins kind, its node image, kubectl and helm', () => {
    const kind = shellVars('test/kind/versions.sh');
    assert.equal(kind.KIND_VERSION, 'v0.33.0');
    assert.match(
      kind.KIND_NODE_IMAGE ?? '',
      /^kindest\/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}$/,
      'node image by digest',
    );
    const config = load(read('test/kind/kind-config.yaml')) as { nodes: Array<{ image: string }> };
    for (const n of config.nodes) assert.equal(n.image, kind.KIND_NODE_IMAGE, 'kind-config.yaml and versions.sh agree');
    const env = shellVars('test/env/versions.sh');
    assert.match(env.KUBERNETES_VERSION ?? '', /^v1\.\d+\.\d+$/);
    assert.match(env.HELM_VERSION ?? '', /^v3\.\d+\.\d+$/);
    const script = read('test/kind/run.sh');
    assert.match(script, /kubectl-\$KUBERNETES_VERSION/, 'run.sh uses the pinned kubectl');
    assert.match(script, /helm-\$HELM_VERSION/, 'run.sh uses the pinned helm');
    assert.match(script, /sigs\.k8s\.io\/kind@\$KIND_VERSION/, 'run.sh installs the pinned kind');
    // The Jobs run the image run.sh builds and loads; a pull would fail in kind.
    for (const f of ['bucket-job.yaml', 'loadgen-job.yaml']) {
      const job = load(read(`test/kind/manifests/${f}`)) as {
        spec: { template: { spec: { containers: Array<{ image: string; imagePullPolicy: string }> } } };
      };
      for (const c of job.spec.template.spec.containers) {
        assert.equal(c.image, kind.E2E_IMAGE);
        assert.equal(c.imagePullPolicy, 'Never');
      }
    }
  });

  test('the loadgen Job passes flags `mqtt2pg loadgen` accepts', async () => {
    const job = load(read('test/kind/manifests/loadgen-job.yaml')) as {
      spec: { template: { spec: { containers: Array<{ args: string[] }> } } };
    };
    const args = (job.spec.template.spec.containers[0]?.args ?? []).map((a) =>
      a.replace('$(COUNT)', '10').replace('$(RATE)', '100').replace('$(RUN_ID)', 'x'),
    );
    assert.equal(args[0], 'loadgen');
    const r = await command(process.execPath, ['cli/main.ts', ...args, '--help']);
    assert.equal(r.code, 0, `mqtt2pg ${args.join(' ')} --help: ${r.stderr}`);
  });

  test('the Argo CD Applications point at paths that exist and values the chart renders', () => {
    const apps = docsOf(read('manifests/examples/argocd-application.yaml'));
    assert.ok(apps.length >= 2);
    for (const app of apps) {
      assert.equal(app.apiVersion, 'argoproj.io/v1alpha1');
      assert.equal(app.kind, 'Application');
      const source = (
        app.spec as { source: { path: string; helm?: { valuesObject?: unknown }; directory?: { include?: string } } }
      ).source;
      const listed = readdirSync(join(REPO_ROOT, source.path));
      assert.ok(listed.length > 0, `${source.path} exists`);
      if (source.directory?.include) assert.ok(listed.includes(source.directory.include), source.directory.include);
      if (source.helm?.valuesObject) {
        // The example's values pass values.schema.json and render, with the monitoring it turns on.
        const values = join(work, `${app.metadata.name}-values.json`);
        writeFileSync(values, JSON.stringify(source.helm.valuesObject));
        const docs = docsOf(helmTemplate(HELM, ['-f', values]));
        assert.ok(docs.some((d) => d.kind === 'PrometheusRule'));
      }
    }
  });
});
