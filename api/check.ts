// The checks every consumer of a stored IngestPipeline makes (operator, autoscaler): the same loader as
// `mqtt2pg validate` and the worker, plus the name rule the children depend on.

import type { ResolvedPipeline } from './defaults.ts';
import { parsePipelines } from './load-pipeline.ts';
import { pipelineNameProblem } from './names.ts';
import type { IngestPipeline } from './types.ts';

export interface SpecProblem {
  reason: 'InvalidName' | 'InvalidSpec';
  message: string;
}

export function checkPipeline(p: IngestPipeline): { resolved: ResolvedPipeline } | { problem: SpecProblem } {
  const nameProblem = pipelineNameProblem(p.metadata.name);
  if (nameProblem) return { problem: { reason: 'InvalidName', message: nameProblem } };
  const doc = {
    apiVersion: p.apiVersion,
    kind: p.kind,
    metadata: { name: p.metadata.name, namespace: p.metadata.namespace },
    spec: p.spec,
  };
  const loaded = parsePipelines(JSON.stringify(doc));
  const first = loaded.pipelines[0];
  if (loaded.problems.length > 0 || !first) {
    const message = loaded.problems.map((x) => (x.path ? `${x.path}: ${x.message}` : x.message)).join('; ');
    return { problem: { reason: 'InvalidSpec', message: message || 'the pipeline could not be read' } };
  }
  return { resolved: first.resolved };
}
