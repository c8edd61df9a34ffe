// The chart's PrometheusRule alerts evaluated by Prometheus's own rule engine: `promtool test rules` runs
// test/alerts/rules.test.yaml against the rules the chart renders with its default thresholds (what ships), and
// every alert must have a case where it fires and one where it stays quiet.
// Usage (scripts/check-packaging.sh builds both tools): HELM=... PROMTOOL=... node --test test/packaging/alerts.check.ts

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { dump, load } from 'js-yaml';
import { REPO_ROOT } from '../lib/env.ts';
import { find, HELM, render } from './chart.ts';

const PROMTOOL = process.env.PROMTOOL;
const CASES = join(REPO_ROOT, 'test/alerts/rules.test.yaml');

interface RuleGroup {
  name: string;
  rules: Array<{ alert?: string }>;
}
interface Cases {
  rule_files: string[];
  tests: Array<{ name: string; alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
}

describe('PrometheusRule alerts under promtool', {
  skip: HELM && PROMTOOL ? false : 'HELM and PROMTOOL must be set',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-alerts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  // What ships: the chart's rule groups with default values, as Prometheus reads them from the CRD's spec.
  const [rule] = find(
    render(undefined, ['metrics.prometheusRule.enabled=true']),
    'PrometheusRule',
  ) as unknown as Array<{
    spec: { groups: RuleGroup[] };
  }>;
  const groups = rule?.spec.groups ?? [];
  const alerts = groups.flatMap((g) => g.rules.map((r) => r.alert).filter((a): a is string => a !== undefined));

  test('every alert has a case where it fires and one where it stays quiet', () => {
    assert.ok(alerts.length >= 12, `the chart renders its alerts (got ${alerts.join(', ')})`);
    const cases = load(readFileSync(CASES, 'utf8')) as Cases;
    const checks = cases.tests.flatMap((t) => t.alert_rule_test ?? []);
    const missing = alerts.flatMap((a) => {
      const mine = checks.filter((c) => c.alertname === a);
      return [
        ...(mine.some((c) => (c.exp_alerts ?? []).length > 0) ? [] : [`${a}: no firing case`]),
        ...(mine.some((c) => (c.exp_alerts ?? []).length === 0) ? [] : [`${a}: no quiet case`]),
      ];
    });
    assert.deepEqual(missing, [], `add the cases to ${CASES}`);
    const unknown = [...new Set(checks.map((c) => c.alertname))].filter((a) => !alerts.includes(a));
    assert.deepEqual(unknown, [], 'cases name alerts the chart no longer has');
  });

  test('promtool test rules passes on the rendered rules', () => {
    writeFileSync(join(dir, 'rules.yaml'), dump({ groups }, { lineWidth: -1 }));
    copyFileSync(CASES, join(dir, 'rules.test.yaml'));
    const check = spawnSync(PROMTOOL ?? 'promtool', ['check', 'rules', 'rules.yaml'], { cwd: dir, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check rules:\n${check.stdout}${check.stderr}`);
    const r = spawnSync(PROMTOOL ?? 'promtool', ['test', 'rules', 'rules.test.yaml'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool test rules:\n${r.stdout}${r.stderr}`);
  });
});
