// Voluntary disruptions (node drains, cluster upgrades) take worker pods one at a time: each needs its
// termination grace period to drain its WAL, and the others keep the shared subscription served meanwhile.
// An unready worker of a persistent WAL may always be evicted: it is unready because PostgreSQL is down or its
// WAL is full, its WAL stays on the PVC and its broker session waits for the pod that comes back under the
// same name, so blocking a node drain for as long as the database is down would protect nothing. With an
// ephemeral WAL the budget keeps the default, which protects the emptyDir of an unready pod.

import type { ResolvedPipeline } from '../../api/defaults.ts';
import type { IngestPipeline } from '../../api/types.ts';
import { names, objectMeta, selectorLabels } from './meta.ts';
import { isPersistent } from './worker.ts';

export function renderPdb(p: IngestPipeline, r: ResolvedPipeline) {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: objectMeta(p, names(r.name).pdb, 'worker'),
    spec: {
      // maxUnavailable (not minAvailable) so a single-replica pipeline can still be drained.
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(r.name, 'worker') },
      ...(isPersistent(r) ? { unhealthyPodEvictionPolicy: 'AlwaysAllow' } : {}),
    },
  };
}
