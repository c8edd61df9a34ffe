// Static checks of the Helm chart, run by scripts/check-packaging.sh (so by `make lint`) without services:
// the chart rendered with the defaults and every ci/*.yaml (operator flags the CLI accepts, RBAC equal to the
// operator's, hardened pods, alerts on metrics that exist).
// Usage: HELM=/path/to/helm node --test --test-reporter=spec test/packaging/chart.check.ts

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { load } from 'js-yaml';
import { WORKER_METRICS } from '../../api/contract.ts';
import { operatorRules } from '../../operator/manifests.ts';
import { CHART_DIR, rbacRules } from '../../scripts/packaging/generate.ts';
import { REPO_ROOT } from '../lib/env.ts';
import { type Doc, find, HELM, knownMetrics, operatorContainer, render } from './chart.ts';

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
    const source = load(readFileSync(join(REPO_ROOT, 'crds/ingestpipelines.mqtt2pg.io.yaml'), 'utf8')) as Doc & {
      spec: unknown;
    };
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
    assert.deepEqual(role?.rules, operatorRules());
    const [lease] = find(docs, 'Role') as Array<Doc & { rules: Array<{ resourceNames?: string[] }> }>;
    assert.deepEqual(
      lease?.rules.map((r) => ({ ...r, ...(r.resourceNames ? { resourceNames: ['mqtt2pg-operator'] } : {}) })),
      rbacRules().leaderElectionRules,
    );
    assert.equal(find(docs, 'ClusterRoleBinding').length, 1);
  });

  test('namespaced mode: a Role with the operator rules per watched namespace, nothing cluster-scoped but the CRD', () => {
    const docs = render(`${CHART_DIR}/ci/full-values.yaml`);
    assert.equal(find(docs, 'ClusterRoleBinding').length, 0);
    assert.equal(find(docs, 'ClusterRole').length, 0);
    const roles = find(docs, 'Role').filter((d) => d.metadata?.name === 'mqtt2pg-operator') as Array<
      Doc & { rules: unknown }
    >;
    assert.deepEqual(roles.map((r) => r.metadata?.namespace).sort(), ['fleet', 'iot']);
    for (const r of roles) assert.deepEqual(r.rules, operatorRules());
    const bindings = find(docs, 'RoleBinding').filter((d) => d.metadata?.name === 'mqtt2pg-operator') as Array<
      Doc & { roleRef: { kind: string; name: string } }
    >;
    assert.deepEqual(bindings.map((b) => b.metadata?.namespace).sort(), ['fleet', 'iot']);
    for (const b of bindings) assert.deepEqual([b.roleRef.kind, b.roleRef.name], ['Role', 'mqtt2pg-operator']);
    assert.ok(operatorContainer(docs).args.includes('--watch-namespace=iot,fleet'));
  });

  test('the image allowlist defaults to the chart image repository and follows operator.allowedImages', () => {
    assert.ok(operatorContainer(render()).args.includes('--allowed-images=ghcr.io/mqtt2pg/mqtt2pg'));
    const args = operatorContainer(
      render(undefined, ['operator.allowedImages={registry.acme.io/iot/*,ghcr.io/mqtt2pg/mqtt2pg}']),
    ).args;
    assert.ok(args.includes('--allowed-images=registry.acme.io/iot/*,ghcr.io/mqtt2pg/mqtt2pg'));
    assert.throws(() => render(undefined, ['operator.allowedImages={repo@sha256:0}']), /allowedImages/);
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
