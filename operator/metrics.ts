// Operator metrics on /metrics (prefix mqtt2pg_operator_): enough to alert on a stuck or failing operator
// and to see every pipeline's state at a glance.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type ConditionSummary = Record<'Ready' | 'Progressing' | 'Degraded', 'True' | 'False' | 'Unknown'>;

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles: Counter<'result'>;
  readonly reconcileErrors: Counter;
  readonly reconcileDuration: Histogram;
  readonly queueDepth: Gauge;
  readonly applies: Counter<'kind' | 'action'>;
  readonly watchRestarts: Counter<'resource' | 'reason'>;
  readonly apiRequests: Counter<'verb'>;
  readonly leader: Gauge;
  readonly autoscalerDecisions: Counter<'decision' | 'direction'>;
  readonly poolSize: Gauge<'namespace' | 'pipeline'>;
  /** Latest conditions per pipeline key, summed into mqtt2pg_operator_pipelines at scrape time. */
  readonly pipelineConditions = new Map<string, ConditionSummary>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'mqtt2pg_operator_' });
    this.reconciles = new Counter({
      name: 'mqtt2pg_operator_reconciles_total',
      help: 'Reconciles by result: success, problem (a user-fixable problem reported in status), error (retried with backoff)',
      labelNames: ['result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'mqtt2pg_operator_reconcile_errors_total',
      help: 'Reconciles that failed and were retried with backoff',
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'mqtt2pg_operator_reconcile_duration_seconds',
      help: 'Time per reconcile',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'mqtt2pg_operator_workqueue_depth',
      help: 'Pipelines waiting to be reconciled',
      registers,
    });
    this.applies = new Counter({
      name: 'mqtt2pg_operator_child_applies_total',
      help: 'Child objects applied, by kind and action (Created, Patched, Noop, Deleted)',
      labelNames: ['kind', 'action'],
      registers,
    });
    this.watchRestarts = new Counter({
      name: 'mqtt2pg_operator_watch_restarts_total',
      help: 'Watches restarted, by resource and reason (closed, expired = 410 Gone + relist, idle = silent connection, error)',
      labelNames: ['resource', 'reason'],
      registers,
    });
    this.apiRequests = new Counter({
      name: 'mqtt2pg_operator_api_requests_total',
      help: 'Requests sent to the Kubernetes API server, by verb (WATCH: a watch started); at rest it should stay flat',
      labelNames: ['verb'],
      registers,
    });
    this.autoscalerDecisions = new Counter({
      name: 'mqtt2pg_operator_autoscaler_decisions_total',
      help: 'Autoscaler decisions that changed a pipeline’s sizes or the reason it holds them, by decision code and direction',
      labelNames: ['decision', 'direction'],
      registers,
    });
    this.poolSize = new Gauge({
      name: 'mqtt2pg_operator_pipeline_pool_size',
      help: 'PgBouncer pool size in effect per pipeline (the spec’s, or the autoscaler’s), as in status.poolSize',
      labelNames: ['namespace', 'pipeline'],
      registers,
    });
    this.leader = new Gauge({
      name: 'mqtt2pg_operator_leader',
      help: '1 while this operator process holds the leader Lease',
      registers,
    });
    const conditions = this.pipelineConditions;
    new Gauge({
      name: 'mqtt2pg_operator_pipelines',
      help: 'IngestPipelines by condition type and status',
      labelNames: ['condition', 'status'],
      registers,
      collect() {
        this.reset();
        for (const type of ['Ready', 'Progressing', 'Degraded'] as const) {
          for (const status of ['True', 'False', 'Unknown'] as const) {
            let n = 0;
            for (const c of conditions.values()) if (c[type] === status) n++;
            this.set({ condition: type, status }, n);
          }
        }
      },
    });
  }
}
