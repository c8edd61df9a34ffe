// NetworkPolicies per pipeline: PgBouncer holds the database credentials' connections, so only the pipeline's
// own pods (workers, and drain pods that mount a removed worker's WAL) and the operator (the autoscaler uses
// its admin console) may reach it; the workers' metrics and health ports open only to the operator (it
// scrapes them) and to the monitoring peers of spec.networkPolicy.metricsFrom. Kubelet probes come from the
// node, which NetworkPolicies always allow. Egress stays open: brokers, PostgreSQL, S3 and the API server
// live wherever the user runs them.

import { WORKER_PORTS } from '../../api/contract.ts';
import type { ResolvedPipeline } from '../../api/defaults.ts';
import type { IngestPipeline } from '../../api/types.ts';
import { OPERATOR_NAMESPACE } from '../manifests.ts';
import { PGBOUNCER_PORT } from './config.ts';
import { MANAGED_BY, names, objectMeta, PIPELINE_LABEL, selectorLabels } from './meta.ts';

/** Where the operator runs when nothing says otherwise: the plain install's namespace. */
export const DEFAULT_OPERATOR_NAMESPACE = OPERATOR_NAMESPACE;

/** The operator's pods, as the chart and the plain install label them. */
export const operatorPeer = (namespace: string) => ({
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
  podSelector: { matchLabels: { 'app.kubernetes.io/name': 'mqtt2pg', 'app.kubernetes.io/component': 'operator' } },
});

export function renderNetworkPolicies(p: IngestPipeline, r: ResolvedPipeline, operatorNamespace: string) {
  if (!r.networkPolicy.enabled) return [];
  const n = names(r.name);
  const operator = operatorPeer(operatorNamespace);
  const workers = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: objectMeta(p, n.workerNetworkPolicy, 'worker'),
    spec: {
      podSelector: { matchLabels: selectorLabels(r.name, 'worker') },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [operator, ...r.networkPolicy.metricsFrom],
          ports: [
            { protocol: 'TCP', port: WORKER_PORTS.metrics.port },
            { protocol: 'TCP', port: WORKER_PORTS.health.port },
          ],
        },
      ],
    },
  };
  if (!r.sink.pgbouncer.enabled) return [workers];
  const ownPods = {
    podSelector: { matchLabels: { [PIPELINE_LABEL]: r.name, 'app.kubernetes.io/managed-by': MANAGED_BY } },
  };
  const pgbouncer = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: objectMeta(p, n.pgbouncerNetworkPolicy, 'pgbouncer'),
    spec: {
      podSelector: { matchLabels: selectorLabels(r.name, 'pgbouncer') },
      policyTypes: ['Ingress'],
      ingress: [{ from: [ownPods, operator], ports: [{ protocol: 'TCP', port: PGBOUNCER_PORT }] }],
    },
  };
  return [workers, pgbouncer];
}
