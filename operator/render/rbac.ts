// The worker's identity, with least privilege: its configuration and Secrets arrive as mounted files, so it
// needs the API only to watch its own IngestPipeline (the autoscaler's flusher count arrives through
// status.autoscaling.current, applied live) and to report Events about it.

import type { ResolvedPipeline } from '../../api/defaults.ts';
import type { IngestPipeline } from '../../api/types.ts';
import { GROUP, PLURAL } from '../../api/types.ts';
import { names, objectMeta } from './meta.ts';

export function renderRbac(p: IngestPipeline, r: ResolvedPipeline) {
  const n = names(r.name);
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: objectMeta(p, n.serviceAccount, 'worker'),
      ...(p.spec.imagePullSecrets ? { imagePullSecrets: p.spec.imagePullSecrets } : {}),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: objectMeta(p, n.role, 'worker'),
      rules: [
        // A watch restricted by resourceNames works with fieldSelector=metadata.name=<name> on list and watch.
        { apiGroups: [GROUP], resources: [PLURAL], resourceNames: [r.name], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: objectMeta(p, n.roleBinding, 'worker'),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: n.role },
      subjects: [{ kind: 'ServiceAccount', name: n.serviceAccount, namespace: r.namespace }],
    },
  ];
}
