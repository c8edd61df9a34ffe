// The Grafana dashboard of the chart (charts/mqtt2pg/dashboards/mqtt2pg.json, also importable by hand), built
// from the metric names both programs export (api/contract.ts, operator/metrics.ts), so a renamed metric
// breaks the build instead of a panel. test/integration/e2e/dashboard.test.ts checks every query against a
// live worker's and operator's /metrics.

import { WORKER_METRICS as W } from '../../api/contract.ts';

export const OPERATOR_SERIES = {
  autoscalerDecisions: 'mqtt2pg_operator_autoscaler_decisions_total',
  poolSize: 'mqtt2pg_operator_pipeline_pool_size',
  pipelines: 'mqtt2pg_operator_pipelines',
} as const;

const SEL = 'namespace=~"$namespace", pipeline=~"$pipeline"';
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own variable syntax, resolved by Grafana
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const BY = 'namespace, pipeline';

interface Target {
  expr: string;
  legendFormat: string;
}

type Unit = 'short' | 'ops' | 's' | 'bytes' | 'percentunit';

let nextId = 1;
const panel = (title: string, description: string, unit: Unit, targets: Target[], gridPos: object) => ({
  id: nextId++,
  type: 'timeseries',
  title,
  description,
  datasource: DATASOURCE,
  fieldConfig: { defaults: { unit }, overrides: [] },
  options: { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
  targets: targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), ...t })),
  gridPos,
});
const rate = (metric: string, by = BY, extra = '') =>
  `sum by (${by}) (rate(${metric}{${SEL}${extra}}[$__rate_interval]))`;
const quantile = (q: number) =>
  `histogram_quantile(${q}, sum by (${BY}, le) (rate(${W.receiveToCommit}_bucket{${SEL}}[$__rate_interval])))`;

export function dashboard(): Record<string, unknown> {
  nextId = 1;
  const at = (i: number) => ({ h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 });
  const panels = [
    panel(
      'Ingest rate',
      'Messages received from the broker per second (QoS 1 and 0).',
      'ops',
      [{ expr: rate(W.received), legendFormat: '{{pipeline}}' }],
      at(0),
    ),
    panel(
      'Acknowledged vs committed',
      'PUBACKs sent after fsync, and rows committed to PostgreSQL (table and unparseable). A lasting gap is a growing WAL backlog.',
      'ops',
      [
        { expr: rate(W.acked), legendFormat: '{{pipeline}} acknowledged' },
        { expr: rate(W.flushedRows), legendFormat: '{{pipeline}} committed' },
      ],
      at(1),
    ),
    panel(
      'WAL backlog',
      'Acknowledged messages not yet committed. The WAL absorbs a PostgreSQL outage up to spec.wal.sizeLimit.',
      'short',
      [{ expr: `sum by (${BY}) (${W.walMessages}{${SEL}})`, legendFormat: '{{pipeline}}' }],
      at(2),
    ),
    panel(
      'Oldest uncommitted message',
      'Age of the oldest acknowledged message still waiting for its commit (the alerts Mqtt2pgCommitLagging/Stalled).',
      's',
      [{ expr: `max by (${BY}) (${W.walOldestUnflushedAge}{${SEL}})`, legendFormat: '{{pipeline}}' }],
      at(3),
    ),
    panel(
      'Receive → commit latency',
      'From the worker receiving a message to its PostgreSQL commit.',
      's',
      [
        { expr: quantile(0.5), legendFormat: '{{pipeline}} p50' },
        { expr: quantile(0.99), legendFormat: '{{pipeline}} p99' },
      ],
      at(4),
    ),
    panel(
      'Flushers and PgBouncer pool size',
      'Flushers running across the pipeline’s pods, and the PgBouncer pool size in effect (the autoscaler moves both).',
      'short',
      [
        { expr: `sum by (${BY}) (${W.flushers}{${SEL}})`, legendFormat: '{{pipeline}} flushers' },
        { expr: `max by (${BY}) (${OPERATOR_SERIES.poolSize}{${SEL}})`, legendFormat: '{{pipeline}} pool size' },
      ],
      at(5),
    ),
    panel(
      'Unparseable by reason',
      'Messages that broke the device contract or a limit, written to the unparseable table, by reason.',
      'ops',
      [{ expr: rate(W.unparseable, `${BY}, reason`), legendFormat: '{{pipeline}} {{reason}}' }],
      at(6),
    ),
    panel(
      'Dead letters by SQLSTATE class',
      'Rows PostgreSQL rejected one by one, stored in the S3 dead-letter bucket, by SQLSTATE class.',
      'ops',
      [{ expr: rate(W.deadLetters, `${BY}, sqlstate_class`), legendFormat: '{{pipeline}} {{sqlstate_class}}' }],
      at(7),
    ),
    panel(
      'Retries',
      'Writes retried with backoff (nothing is dropped while they fail), by target.',
      'ops',
      [{ expr: rate(W.retries, `${BY}, target`), legendFormat: '{{pipeline}} {{target}}' }],
      at(8),
    ),
    panel(
      'Autoscaler decisions',
      'Decisions that changed a pipeline’s sizes or why it holds them, per hour, by decision and direction.',
      'short',
      [
        {
          expr: `sum by (decision, direction) (increase(${OPERATOR_SERIES.autoscalerDecisions}[1h]))`,
          legendFormat: '{{decision}} {{direction}}',
        },
      ],
      at(9),
    ),
  ];
  const variable = (name: string, query: string) => ({
    name,
    label: name,
    type: 'query',
    datasource: DATASOURCE,
    query: { query, refId: name },
    definition: query,
    includeAll: true,
    multi: true,
    current: { text: 'All', value: '$__all' },
    refresh: 2,
    sort: 1,
  });
  return {
    title: 'mqtt2pg',
    uid: 'mqtt2pg-overview',
    description: 'MQTT → PostgreSQL ingest pipelines: intake, WAL, commits, rejects and the autoscaler.',
    tags: ['mqtt2pg'],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {} },
        variable('namespace', `label_values(${W.received}, namespace)`),
        variable('pipeline', `label_values(${W.received}{namespace=~"$namespace"}, pipeline)`),
      ],
    },
    panels,
  };
}

/** Every metric name a panel queries (a histogram's _bucket as written). */
export function queriedMetrics(d = dashboard()): string[] {
  const names = new Set<string>();
  for (const p of d.panels as Array<{ targets: Target[] }>) {
    for (const t of p.targets) for (const m of t.expr.matchAll(/\bmqtt2pg_[a-z0-9_]+/g)) names.add(m[0]);
  }
  return [...names].sort();
}

export const dashboardJson = (): string => `${JSON.stringify(dashboard(), null, 2)}\n`;
