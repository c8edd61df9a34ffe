// Static checks of the packaging, run by scripts/check-packaging.sh (so by `make lint`) without services:
// the Dockerfile's promises (non-root, mqtt2pg entrypoint, no secrets, builds from exactly what its context
// holds), and the chart rendered with the defaults and every ci/*.yaml (operator flags the CLI accepts, RBAC
// equal to the operator's, hardened pods, alerts on metrics that exist).
// Usage: HELM=/path/to/helm node --test-reporter=spec test/packaging/check.ts

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { load, loadAll } from 'js-yaml';
import { WORKER_METRICS } from '../../api/contract.ts';
import { clusterRoleRules } from '../../operator/manifests.ts';
import { OperatorMetrics } from '../../operator/metrics.ts';
import { CHART_DIR, helmTemplate, rbacRules } from '../../scripts/packaging/generate.ts';
import { WorkerMetrics } from '../../worker/metrics.ts';
import { REPO_ROOT } from '../lib/env.ts';

const read = (p: string) => readFileSync(join(REPO_ROOT, p), 'utf8');

// ---------------------------------------------------------------------------------------------- Dockerfile

interface Instruction {
  cmd: string;
  args: string;
  line: number;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Dockerfile instructions by stage; continuation lines joined, comments and parser directives dropped. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let logical = lines[i] ?? '';
    if (/^\s*(#|$)/.test(logical)) continue;
    while (logical.endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = lines[i] ?? '';
      if (/^\s*#/.test(next)) continue;
      logical = `${logical.slice(0, -1)} ${next.trim()}`;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(logical);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot parse "${logical}"`);
    const cmd = (m[1] as string).toUpperCase();
    const args = (m[2] as string).trim();
    if (cmd === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`Dockerfile line ${start + 1}: cannot parse FROM ${args}`);
      stages.push({ from: f[1] as string, ...(f[2] ? { name: f[2] } : {}), instructions: [] });
    } else if (stages.length > 0) {
      (stages.at(-1) as Stage).instructions.push({ cmd, args, line: start + 1 });
    }
  }
  return stages;
}

/** .dockerignore in the allowlist style this repository uses: `*`, then `!path` re-includes, then excludes. */
function dockerignore(): { includes: string[]; excludes: RegExp[] } {
  const rules = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  assert.equal(
    rules[0],
    '*',
    '.dockerignore must start with "*" (allowlist): a new file never reaches the image by accident',
  );
  const includes = rules.filter((r) => r.startsWith('!')).map((r) => r.slice(1).replace(/\/$/, ''));
  const excludes = rules
    .slice(1)
    .filter((r) => !r.startsWith('!'))
    .map((r) => {
      const body = r
        .replace(/\/$/, '')
        .split('**/')
        .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'))
        .join('(?:.*/)?');
      return new RegExp(`^(?:.*/)?${body.replace(/^\(\?:\.\*\/\)\?/, '')}(?:/.*)?$`);
    });
  return { includes, excludes };
}

/** The files a `docker build .` context holds (tracked and new files, as git sees them). */
function contextFiles(): string[] {
  const { includes, excludes } = dockerignore();
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  return files.filter(
    (f) => includes.some((inc) => f === inc || f.startsWith(`${inc}/`)) && !excludes.some((re) => re.test(f)),
  );
}

describe('Dockerfile', () => {
  const stages = parseDockerfile(read('Dockerfile'));
  const runtime = stages.at(-1) as Stage;
  const build = stages.find((s) => s.name === 'build');
  const all = stages.flatMap((s) => s.instructions);
  const args = Object.fromEntries(
    read('Dockerfile')
      .split('\n')
      .map((l) => /^ARG\s+([A-Z_]+)=(\S+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]]),
  );
  const image = (ref: string) => ref.replace(/\$\{(\w+)\}/g, (_, k: string) => args[k] ?? '');

  test('is multi-stage: a build stage compiles, a separate runtime stage runs', () => {
    assert.ok(build, 'a stage named "build" (FROM ... AS build)');
    assert.ok(stages.length >= 2 && runtime !== build, 'the last stage is the runtime stage, not the build stage');
    const runs = build.instructions.filter((i) => i.cmd === 'RUN').map((i) => i.args);
    assert.ok(
      runs.some((r) => /\bnpm ci\b/.test(r)),
      'the build stage installs from the lockfile with npm ci',
    );
    assert.ok(
      runs.some((r) => /\bnpm run build\b/.test(r)),
      'the build stage compiles with npm run build (dist/cli/main.js)',
    );
    assert.ok(
      runtime.instructions.some((i) => i.cmd === 'COPY' && /--from=build\b.*\/dist\b/.test(i.args)),
      'the runtime copies dist/ from the build stage',
    );
  });

  test('runtime base is a small Node 24 image', () => {
    const base = image(runtime.from);
    assert.match(
      base,
      /^(node:24[.\d]*-(bookworm-|trixie-)?slim|gcr\.io\/distroless\/nodejs24-debian\d+(:\S+)?)(@sha256:[0-9a-f]{64})?$/,
    );
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    assert.equal(engines, '>=24', 'package.json engines and the image base must agree on the Node major');
  });

  test('runs as the non-root uid 65532 that the pod specs set', () => {
    const users = runtime.instructions.filter((i) => i.cmd === 'USER');
    assert.ok(users.length > 0, 'the runtime stage sets USER');
    const last = (users.at(-1) as Instruction).args;
    assert.match(last, /^65532(:65532)?$/, 'numeric uid (runAsNonRoot can only verify a numeric USER)');
    const userLine = (users.at(-1) as Instruction).line;
    const after = runtime.instructions.filter((i) => i.line > userLine && i.cmd === 'USER');
    assert.equal(after.length, 0);
  });

  test('entrypoint is the mqtt2pg CLI in exec form', () => {
    const ep = runtime.instructions.filter((i) => i.cmd === 'ENTRYPOINT').at(-1);
    assert.ok(ep, 'ENTRYPOINT is set');
    assert.deepEqual(JSON.parse(ep.args), ['mqtt2pg'], 'exec form, so SIGTERM reaches Node (no shell in between)');
    assert.ok(
      runtime.instructions.some(
        (i) => i.cmd === 'RUN' && /ln -s \S*dist\/cli\/main\.js \/usr\/local\/bin\/mqtt2pg/.test(i.args),
      ),
      'mqtt2pg is on PATH: the operator renders `command: [mqtt2pg, worker, ...]`',
    );
  });

  test('holds no secrets and fetches nothing unpinned', () => {
    for (const i of all) {
      if (i.cmd === 'ENV' || i.cmd === 'ARG') {
        assert.doesNotMatch(
          i.args,
          /(PASSWORD|SECRET|TOKEN|ACCESS_KEY|PRIVATE|CREDENTIAL)/i,
          `line ${i.line}: ${i.cmd} ${i.args}`,
        );
      }
      if (i.cmd === 'ADD') assert.fail(`line ${i.line}: use COPY (ADD fetches URLs and unpacks archives)`);
      if (i.cmd === 'COPY') {
        assert.doesNotMatch(i.args, /(\.test-env|\.env\b|kubeconfig|\.pem|\.key|id_rsa|\.npmrc)/, `line ${i.line}`);
        assert.doesNotMatch(i.args, /^(--\S+\s+)*\.\s/, `line ${i.line}: COPY . copies the whole context`);
      }
    }
  });

  test('the build stage copies every source folder tsconfig.build.json compiles, and .dockerignore lets them in', () => {
    const tsconfig = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    const folders = tsconfig.include.map((g) => g.split('/')[0] as string);
    const copied = (build as Stage).instructions
      .filter((i) => i.cmd === 'COPY' && !i.args.includes('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
      .map((s) => s.replace(/\/$/, ''));
    const { includes } = dockerignore();
    for (const f of [...folders, 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      assert.ok(copied.includes(f), `the build stage must COPY ${f} (tsconfig.build.json compiles it)`);
      assert.ok(includes.includes(f), `.dockerignore must re-include !${f}`);
    }
  });

  test('the context holds no local state or secrets', () => {
    const files = contextFiles();
    assert.ok(files.includes('cli/main.ts'));
    for (const f of files) {
      assert.doesNotMatch(f, /^(\.test-env|node_modules|dist|\.git)\//, f);
      assert.doesNotMatch(f, /\.test\.ts$/, `${f}: tests stay out of the image`);
    }
  });

  const work = mkdtempSync(join(tmpdir(), 'mqtt2pg-image-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  test('what the build stage copies compiles, and the CLI starts the way the image starts it', () => {
    // The Dockerfile's build, minus Docker: the context's files and `tsc -p tsconfig.build.json`. Catches a source that imports a file the image
    // never gets (tests, test/) long before a docker build would.
    for (const f of contextFiles()) {
      mkdirSync(join(work, f, '..'), { recursive: true });
      cpSync(join(REPO_ROOT, f), join(work, f));
    }
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
    const tsc = spawnSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], {
      cwd: work,
      encoding: 'utf8',
    });
    assert.equal(
      tsc.status,
      0,
      `tsc -p tsconfig.build.json in the image's build context failed:\n${tsc.stdout}${tsc.stderr}`,
    );
    assert.ok(statSync(join(work, 'dist/cli/main.js')).isFile(), 'dist/cli/main.js (the bin of package.json)');
    const version = spawnSync(process.execPath, [join(work, 'dist/cli/main.js'), 'version'], {
      cwd: tmpdir(),
      encoding: 'utf8',
    });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), (JSON.parse(read('package.json')) as { version: string }).version);
    for (const cmd of ['operator', 'worker', 'loadgen']) {
      const help = spawnSync(process.execPath, [join(work, 'dist/cli/main.js'), cmd, '--help'], { encoding: 'utf8' });
      assert.equal(help.status, 0, `mqtt2pg ${cmd} --help: ${help.stderr}`);
    }
  });
});

// ------------------------------------------------------------------------------------------------- chart

type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
};

const HELM = process.env.HELM;

function render(valuesFile?: string, set: string[] = []): Doc[] {
  assert.ok(HELM, 'HELM is not set: run this through scripts/check-packaging.sh, which builds the pinned helm');
  const out = helmTemplate(HELM, [...(valuesFile ? ['-f', valuesFile] : []), ...set.flatMap((s) => ['--set', s])]);
  return (loadAll(out) as Array<Doc | null>).filter((d): d is Doc => d !== null);
}

const find = (docs: Doc[], kind: string, name?: string) =>
  docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));

interface Container {
  command: string[];
  args: string[];
  securityContext: Record<string, unknown>;
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  resources?: { requests?: unknown; limits?: unknown };
  image: string;
}
const operatorContainer = (docs: Doc[]) => {
  const [dep] = find(docs, 'Deployment');
  assert.ok(dep, 'the chart renders the operator Deployment');
  return (dep as unknown as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec
    .containers[0] as Container;
};

/** Metric names the worker's and the operator's registries hold. */
async function knownMetrics(): Promise<Set<string>> {
  const registries = [new WorkerMetrics('p', () => undefined).registry, new OperatorMetrics().registry];
  const metrics = await Promise.all(registries.map((r) => r.getMetricsAsJSON()));
  return new Set(metrics.flat().map((m) => m.name));
}

describe('Helm chart', { skip: HELM ? false : 'HELM is not set (scripts/check-packaging.sh sets it)' }, () => {
  const valueFiles = [undefined, ...readdirSync(join(REPO_ROOT, CHART_DIR, 'ci')).map((f) => `${CHART_DIR}/ci/${f}`)];

  for (const vf of valueFiles) {
    test(`renders with ${vf ?? 'the defaults'}: valid objects, hardened operator pod, flags the CLI accepts`, () => {
      const docs = render(vf);
      for (const d of docs) {
        assert.ok(
          d.apiVersion && d.kind && d.metadata?.name,
          `every object has apiVersion, kind, metadata.name: ${JSON.stringify(d).slice(0, 200)}`,
        );
      }
      const c = operatorContainer(docs);
      assert.deepEqual(c.command, ['mqtt2pg', 'operator']);
      assert.equal(c.securityContext.runAsNonRoot, true);
      assert.equal(c.securityContext.runAsUser, 65532);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.ok(c.livenessProbe && c.readinessProbe, 'probes');
      assert.ok(c.resources?.requests && c.resources.limits, 'resources');
      // The real parser: unknown or misspelt flags make `mqtt2pg operator` exit 2 before --help is honoured.
      const parsed = spawnSync(process.execPath, [join(REPO_ROOT, 'cli/main.ts'), 'operator', ...c.args, '--help'], {
        encoding: 'utf8',
      });
      assert.equal(parsed.status, 0, `mqtt2pg operator rejects the chart's args ${c.args.join(' ')}: ${parsed.stderr}`);
    });
  }

  test('defaults: 2 replicas with leader election, CRD kept on uninstall and equal to crds/', () => {
    const docs = render();
    const [dep] = find(docs, 'Deployment', 'mqtt2pg-operator') as Array<Doc & { spec: { replicas: number } }>;
    assert.equal(dep?.spec.replicas, 2);
    const args = operatorContainer(docs).args;
    assert.ok(args.includes('--leader-elect'));
    assert.ok(args.includes('--lease-name=mqtt2pg-operator'), 'the Lease the leader-election Role names');
    assert.ok(args.includes('--worker-image=ghcr.io/mqtt2pg/mqtt2pg:0.1.0'), 'workers default to the chart image');
    const [crd] = find(docs, 'CustomResourceDefinition') as Array<Doc & { spec: unknown }>;
    assert.ok(crd, 'crds.install defaults to true');
    const source = load(read('crds/ingestpipelines.mqtt2pg.io.yaml')) as Doc & { spec: unknown };
    assert.deepEqual(crd.spec, source.spec, 'the chart installs exactly the generated CRD');
    assert.equal(
      (crd.metadata as { annotations?: Record<string, string> }).annotations?.['helm.sh/resource-policy'],
      'keep',
    );
    assert.equal(find(docs, 'PodDisruptionBudget').length, 1);
    assert.equal(find(docs, 'Service', 'mqtt2pg-operator-metrics').length, 1);
  });

  test("RBAC is exactly the operator's own (operator/manifests.ts)", () => {
    const docs = render();
    const [role] = find(docs, 'ClusterRole') as Array<Doc & { rules: unknown }>;
    assert.deepEqual(role?.rules, clusterRoleRules());
    const [lease] = find(docs, 'Role') as Array<Doc & { rules: Array<{ resourceNames?: string[] }> }>;
    assert.deepEqual(
      lease?.rules.map((r) => ({ ...r, ...(r.resourceNames ? { resourceNames: ['mqtt2pg-operator'] } : {}) })),
      rbacRules().leaderElectionRules,
    );
    assert.equal(find(docs, 'ClusterRoleBinding').length, 1);
  });

  test('namespaced mode binds the ClusterRole per watched namespace, never cluster-wide', () => {
    const docs = render(`${CHART_DIR}/ci/full-values.yaml`);
    assert.equal(find(docs, 'ClusterRoleBinding').length, 0);
    const bindings = find(docs, 'RoleBinding').filter(
      (d) => (d as unknown as { roleRef: { kind: string } }).roleRef.kind === 'ClusterRole',
    );
    assert.deepEqual(bindings.map((b) => b.metadata.namespace).sort(), ['fleet', 'iot']);
    assert.ok(operatorContainer(docs).args.includes('--watch-namespace=iot,fleet'));
  });

  test('values.schema.json rejects misspelt and invalid values instead of ignoring them', () => {
    assert.throws(() => render(undefined, ['operater.replicas=3']), /additional properties 'operater' not allowed/);
    assert.throws(() => render(undefined, ['operator.logLevel=verbose']), /logLevel/);
    assert.throws(() => render(undefined, ['leaderElection.leaseDuration=15']), /leaseDuration/);
  });

  test('more than one replica without leader election is refused with the fix', () => {
    assert.throws(() => render(undefined, ['leaderElection.enabled=false']), /needs leaderElection\.enabled=true/);
  });

  test('alerts cover backlog, commit age, dead letters, readiness/backpressure, on metrics that exist', async () => {
    const docs = render(`${CHART_DIR}/ci/full-values.yaml`);
    const [rule] = find(docs, 'PrometheusRule') as Array<
      Doc & {
        spec: {
          groups: Array<{
            rules: Array<{
              alert: string;
              expr: string;
              for?: string;
              labels: Record<string, string>;
              annotations: Record<string, string>;
            }>;
          }>;
        };
      }
    >;
    assert.ok(rule, 'metrics.prometheusRule.enabled renders a PrometheusRule');
    const alerts = rule.spec.groups.flatMap((g) => g.rules);
    for (const name of [
      'Mqtt2pgBacklogGrowing',
      'Mqtt2pgCommitLagging',
      'Mqtt2pgDeadLetters',
      'Mqtt2pgBackpressure',
      'Mqtt2pgWorkerNotReady',
      'Mqtt2pgBrokerDisconnected',
    ]) {
      assert.ok(
        alerts.some((a) => a.alert === name),
        `alert ${name}`,
      );
    }
    const known = await knownMetrics();
    for (const metric of [
      WORKER_METRICS.walMessages,
      WORKER_METRICS.walOldestUnflushedAge,
      WORKER_METRICS.deadLetters,
      WORKER_METRICS.backpressure,
      WORKER_METRICS.brokerConnected,
      WORKER_METRICS.retries,
      WORKER_METRICS.receiveToCommit,
    ]) {
      assert.ok(known.has(metric), `worker/metrics.ts no longer registers ${metric}; update the chart's alerts`);
    }
    for (const a of alerts) {
      for (const m of a.expr.matchAll(/\b(mqtt2pg_[a-z0-9_]+)/g)) {
        const name = (m[1] as string).replace(/_(bucket|sum|count)$/, '');
        assert.ok(known.has(name), `${a.alert} uses ${m[1]}, which no metrics.ts registers`);
      }
      assert.match(a.labels.severity ?? '', /^(warning|critical)$/, `${a.alert}: severity`);
      assert.equal(a.labels.team, 'iot', `${a.alert}: additionalAlertLabels`);
      assert.ok(a.annotations.summary && a.annotations.description, `${a.alert}: summary and description`);
      assert.match(a.annotations.runbook_url ?? '', /^https:\/\/runbooks\.example\.com\/mqtt2pg#/);
      assert.doesNotMatch(JSON.stringify(a), /\{\{\s*\.Values|<no value>/, `${a.alert}: unrendered Helm template`);
    }
    assert.equal(find(docs, 'ServiceMonitor').length, 1);
    assert.equal(find(docs, 'PodMonitor').length, 1);
  });

  test('the image is configurable: digest wins, and the workers follow the operator image', () => {
    const c = operatorContainer(render(`${CHART_DIR}/ci/full-values.yaml`));
    assert.match(c.image, /^ghcr\.io\/mqtt2pg\/mqtt2pg@sha256:0{64}$/);
    assert.ok(c.args.includes('--worker-image=registry.example.com/mqtt2pg:1.2.3'));
    const own = operatorContainer(render(undefined, ['image.repository=registry.local/m2p', 'image.tag=e2e']));
    assert.equal(own.image, 'registry.local/m2p:e2e');
    assert.ok(own.args.includes('--worker-image=registry.local/m2p:e2e'));
  });
});
