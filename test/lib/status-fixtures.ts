// What the operator observes of a pipeline, for the unit tests of its status (operator/status.test.ts,
// operator/subsystem-conditions.test.ts): one pipeline "p" in namespace "ns" at generation 4.

import type { Condition } from '../../api/types.ts';
import type { Observation, WorkloadState } from '../../operator/status.ts';

export const T0 = new Date('2026-01-01T00:00:00.123Z');
export const T1 = new Date('2026-01-01T00:05:00Z');

/** A Deployment or StatefulSet with `replicas` pods, all ready and updated. */
export const rolledOut = (replicas: number): WorkloadState => ({
  desired: replicas,
  ready: replicas,
  updated: replicas,
  rolledOut: true,
});

/** Two workers wanted, none ready yet, PgBouncer rolled out; `patch` replaces what a test is about. */
export const observation = (patch: Partial<Observation> = {}): Observation => ({
  generation: 4,
  flushers: 2,
  poolSize: 10,
  workerSelector: 'app.kubernetes.io/instance=p',
  namespace: 'ns',
  workers: { desired: 2, ready: 0, updated: 0, rolledOut: false },
  pgbouncer: rolledOut(1),
  ...patch,
});

export const conditionOf = (status: { conditions?: Condition[] }, type: string) =>
  status.conditions?.find((c) => c.type === type);
