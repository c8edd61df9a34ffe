// The API schema turned into the stricter schema ajv checks files with: unknown fields are errors (the API
// server rejects them too under kubectl's strict field validation), and metadata needs a valid name.

import { ingestPipelineSchema } from './schema.ts';
import { K8S_NAME_PATTERN, type Schema } from './schema-builders.ts';
import { API_VERSION, KIND } from './types.ts';

function closeObjects(s: Schema): Schema {
  const out: Schema = { ...s };
  if (s.properties) {
    out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, closeObjects(v)]));
    if (!s['x-kubernetes-preserve-unknown-fields'] && s.additionalProperties === undefined) {
      out.additionalProperties = false;
    }
  }
  if (s.items) out.items = closeObjects(s.items);
  if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    out.additionalProperties = closeObjects(s.additionalProperties);
  }
  return out;
}

const metadataSchema: Schema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', pattern: K8S_NAME_PATTERN, maxLength: 253, description: 'Pipeline name.' },
    namespace: { type: 'string', pattern: K8S_NAME_PATTERN, maxLength: 63, description: 'Namespace.' },
  },
  'x-kubernetes-preserve-unknown-fields': true,
};

export function validationSchema(): Schema {
  const closed = closeObjects(ingestPipelineSchema);
  return {
    ...closed,
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      ...closed.properties,
      apiVersion: { type: 'string', enum: [API_VERSION], description: `Must be ${API_VERSION}.` },
      kind: { type: 'string', enum: [KIND], description: `Must be ${KIND}.` },
      metadata: metadataSchema,
      // Status is the operator's; a file exported with `kubectl get -o yaml` may carry it, so it is accepted.
      status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    },
  };
}

/** Finds the schema node for a dotted path, following properties, items and map values. */
export function schemaAt(root: Schema, segments: Array<string | number>): Schema | undefined {
  let node: Schema | undefined = root;
  for (const seg of segments) {
    if (!node) return undefined;
    if (typeof seg === 'number') node = node.items;
    else if (node.properties?.[seg]) node = node.properties[seg];
    else if (node.additionalProperties && typeof node.additionalProperties === 'object')
      node = node.additionalProperties;
    else return undefined;
  }
  return node;
}
