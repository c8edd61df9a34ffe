// A pipeline for the render tests, resolved the way the operator resolves it (through the loader).

import type { ResolvedPipeline } from '../../api/defaults.ts';
import { parsePipelines } from '../../api/load-pipeline.ts';
import type { IngestPipeline, IngestPipelineSpec } from '../../api/types.ts';

export function pipeline(
  spec: Partial<IngestPipelineSpec> = {},
  name = 'fleet',
): { p: IngestPipeline; r: ResolvedPipeline } {
  const doc: IngestPipeline = {
    apiVersion: 'mqtt2pg.io/v1alpha1',
    kind: 'IngestPipeline',
    metadata: { name, namespace: 'iot', uid: '0b5f3c9e-1111-4222-8333-444455556666', generation: 3 },
    spec: {
      source: { brokers: ['mqtt://broker.iot:1883'], auth: { secretRef: { name: 'mqtt-creds' } } },
      sink: { postgres: { host: 'pg-rw.db.svc', database: 'telemetry', credentialsSecretRef: { name: 'pg-creds' } } },
      ...spec,
    },
  };
  const loaded = parsePipelines(JSON.stringify(doc));
  const first = loaded.pipelines[0];
  if (!first) throw new Error(`fixture invalid: ${JSON.stringify(loaded.problems)}`);
  return { p: doc, r: first.resolved };
}
