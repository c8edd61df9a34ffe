// Builds the CustomResourceDefinition object from the one schema in api/schema.ts.

import { ingestPipelineSchema } from '../api/schema.ts';
import type { Schema } from '../api/schema-builders.ts';
import { printerColumns } from '../api/schema-status.ts';
import { GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from '../api/types.ts';

export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** The schema as the API server wants it: `metadata` left to the server, as for every CRD. */
function crdSchema(): Schema {
  const { metadata: _metadata, ...properties } = ingestPipelineSchema.properties ?? {};
  return { ...ingestPipelineSchema, properties: { ...properties, metadata: { type: 'object' } } };
}

export function buildCrd() {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/name': 'mqtt2pg', 'app.kubernetes.io/part-of': 'mqtt2pg' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: SHORT_NAMES,
        categories: ['mqtt2pg'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          // scale: `kubectl scale ingp/x --replicas N`, HorizontalPodAutoscalers and KEDA drive spec.replicas.
          subresources: {
            status: {},
            scale: {
              specReplicasPath: '.spec.replicas',
              statusReplicasPath: '.status.replicas',
              labelSelectorPath: '.status.selector',
            },
          },
          additionalPrinterColumns: printerColumns,
          schema: { openAPIV3Schema: crdSchema() },
        },
      ],
    },
  };
}
