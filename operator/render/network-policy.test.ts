import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipeline } from '../../test/lib/pipelines.ts';
import { renderNetworkPolicies } from './network-policy.ts';

type Policy = {
  metadata: { name: string };
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    ingress: Array<{ from: Array<Record<string, unknown>>; ports: Array<{ port: number }> }>;
  };
};
const render = (spec: Parameters<typeof pipeline>[0] = {}) => {
  const { p, r } = pipeline(spec);
  return renderNetworkPolicies(p, r, 'ops') as Policy[];
};

test('PgBouncer takes connections only from the pipeline’s own pods and the operator, on its port', () => {
  const bouncer = render().find((x) => x.metadata.name === 'fleet-pgbouncer');
  assert.equal(bouncer?.spec.podSelector.matchLabels['app.kubernetes.io/component'], 'pgbouncer');
  assert.deepEqual(bouncer?.spec.ingress, [
    {
      from: [
        {
          podSelector: {
            matchLabels: { 'mqtt2pg.io/pipeline': 'fleet', 'app.kubernetes.io/managed-by': 'mqtt2pg-operator' },
          },
        },
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ops' } },
          podSelector: {
            matchLabels: { 'app.kubernetes.io/name': 'mqtt2pg', 'app.kubernetes.io/component': 'operator' },
          },
        },
      ],
      ports: [{ protocol: 'TCP', port: 6432 }],
    },
  ]);
});

test('worker metrics and health open to the operator and the monitoring peers; Prometheus by default', () => {
  const workers = render().find((x) => x.metadata.name === 'fleet-worker');
  const rule = workers?.spec.ingress[0];
  assert.deepEqual(
    rule?.ports.map((x) => x.port),
    [9090, 8081],
  );
  assert.deepEqual(rule?.from[1], {
    namespaceSelector: {},
    podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
  });
  const own = render({ networkPolicy: { metricsFrom: [{ namespaceSelector: { matchLabels: { team: 'obs' } } }] } });
  assert.deepEqual(own.find((x) => x.metadata.name === 'fleet-worker')?.spec.ingress[0]?.from.slice(1), [
    { namespaceSelector: { matchLabels: { team: 'obs' } } },
  ]);
});

test('switched off, or without PgBouncer, the policies that do not apply are not rendered', () => {
  assert.deepEqual(render({ networkPolicy: { enabled: false } }), []);
  const { p, r } = pipeline({
    sink: {
      postgres: { host: 'pg', database: 'd', credentialsSecretRef: { name: 'pg-creds' } },
      pgbouncer: { enabled: false },
    },
  });
  assert.deepEqual(
    (renderNetworkPolicies(p, r, 'ops') as Policy[]).map((x) => x.metadata.name),
    ['fleet-worker'],
  );
});
