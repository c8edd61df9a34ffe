// The chart rendered by the pinned helm (HELM), and what chart.check.ts looks up in it.

import assert from 'node:assert/strict';
import { loadAll } from 'js-yaml';
import { OperatorMetrics } from '../../operator/metrics.ts';
import { helmTemplate } from '../../scripts/packaging/generate.ts';
import { WorkerMetrics } from '../../worker/metrics.ts';

export type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
};

export const HELM = process.env.HELM;

export function render(valuesFile?: string, set: string[] = []): Doc[] {
  assert.ok(HELM, 'HELM is not set: run this through scripts/check-packaging.sh, which builds the pinned helm');
  const out = helmTemplate(HELM, [...(valuesFile ? ['-f', valuesFile] : []), ...set.flatMap((s) => ['--set', s])]);
  return (loadAll(out) as Array<Doc | null>).filter((d): d is Doc => d !== null);
}

export const find = (docs: Doc[], kind: string, name?: string) =>
  docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));

export interface Container {
  command: string[];
  args: string[];
  securityContext: Record<string, unknown>;
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  resources?: { requests?: unknown; limits?: unknown };
  image: string;
}
export const operatorContainer = (docs: Doc[]) => {
  const [dep] = find(docs, 'Deployment');
  assert.ok(dep, 'the chart renders the operator Deployment');
  return (dep as unknown as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec
    .containers[0] as Container;
};

/** Metric names the worker's and the operator's registries hold. */
export async function knownMetrics(): Promise<Set<string>> {
  const registries = [new WorkerMetrics('p', () => undefined).registry, new OperatorMetrics().registry];
  const metrics = await Promise.all(registries.map((r) => r.getMetricsAsJSON()));
  return new Set(metrics.flat().map((m) => m.name));
}
