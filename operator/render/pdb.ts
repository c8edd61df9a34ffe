// Voluntary disruptions (node drains, cluster upgrades) take worker pods one at a time: each needs its
// termination grace period to drain its WAL, and the others keep the shared subscription served meanwhile.

import type { ResolvedPipeline } from '../../api/defaults.ts';
import type { IngestPipeline } from '../../api/types.ts';
import { names, objectMeta, selectorLabels } from './meta.ts';

export function renderPdb(p: IngestPipeline, r: ResolvedPipeline) {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: objectMeta(p, names(r.name).pdb, 'worker'),
    spec: {
      // maxUnavailable (not minAvailable) so a single-replica pipeline can still be drained.
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(r.name, 'worker') },
    },
  };
}
