// The status step of a reconcile: what one reconcile saw becomes the pipeline's status (computeStatus in
// status.ts, pure), patched only when it changed, with an Event per condition change worth one and the
// condition and pool-size metrics.

import type { Logger } from 'pino';
import type { ResolvedPipeline } from '../api/defaults.ts';
import type { Sizes } from '../api/sizes.ts';
import type { IngestPipeline, IngestPipelineStatus } from '../api/types.ts';
import type { ApplyResult } from './apply.ts';
import type { EventSink } from './events.ts';
import { PIPELINES } from './kinds.ts';
import type { ConditionSummary, OperatorMetrics } from './metrics.ts';
import { names, selectorLabels } from './render/meta.ts';
import { type KubeClient, type KubeObject, objectPath } from './runtime/kube.ts';
import {
  computeStatus,
  conditionChanges,
  type Problem,
  statusChanged,
  type WorkloadState,
  workloadState,
} from './status.ts';
import { SUBSYSTEM_CONDITIONS, subsystemEvent, type WorkerHealth } from './subsystem-conditions.ts';

/** What one reconcile saw, for the status: a problem, or the workloads and sizes. */
export interface Observed {
  problem?: Problem;
  draining?: Problem;
  workers?: WorkloadState;
  pgbouncer?: WorkloadState;
  flushers?: number;
  poolSize?: number;
  walDrains?: IngestPipelineStatus['walDrains'];
  resizing?: Problem;
}

export interface StatusWriterDeps {
  client: KubeClient;
  events: EventSink;
  metrics: OperatorMetrics;
  /** The worker pods' last health reports per pipeline key (operator/worker-health.ts). */
  health?: { get(key: string): WorkerHealth[] | undefined };
  now?: () => Date;
}

export class StatusWriter {
  private readonly d: StatusWriterDeps;
  /**
   * The status last written per pipeline and the resourceVersion it was written over: until the cache
   * shows a newer object, it is the status to compare with (a reconcile right after a write would otherwise
   * see the stale cached status and write the same again).
   */
  private readonly written = new Map<string, { overRv: string; status: IngestPipelineStatus }>();

  constructor(deps: StatusWriterDeps) {
    this.d = deps;
  }

  /** The pipeline is gone: its last written status and its metrics go too. */
  forget(key: string): void {
    this.written.delete(key);
    this.d.metrics.pipelineConditions.delete(key);
    const [namespace = '', pipeline = ''] = key.split('/');
    this.d.metrics.poolSize.remove({ namespace, pipeline });
  }

  async write(p: IngestPipeline & KubeObject, o: Observed, log: Logger): Promise<void> {
    const ns = p.metadata.namespace ?? 'default';
    const now = this.d.now?.() ?? new Date();
    const key = `${ns}/${p.metadata.name}`;
    const mine = this.written.get(key);
    const stored = mine && mine.overRv === p.metadata.resourceVersion ? mine.status : p.status;
    const next = computeStatus(
      stored,
      {
        generation: p.metadata.generation ?? 0,
        ...(o.problem ? { problem: o.problem } : {}),
        ...(o.draining ? { draining: o.draining } : {}),
        ...(o.workers ? { workers: o.workers } : {}),
        ...(o.pgbouncer ? { pgbouncer: o.pgbouncer } : {}),
        flushers: o.flushers ?? p.status?.flushers ?? 0,
        ...(o.poolSize !== undefined ? { poolSize: o.poolSize } : {}),
        ...(o.walDrains ? { walDrains: o.walDrains } : {}),
        ...(o.resizing ? { resizing: o.resizing } : {}),
        workerSelector: Object.entries(selectorLabels(p.metadata.name, 'worker'))
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
        namespace: ns,
        subsystems: { paused: p.spec.paused === true, health: this.d.health?.get(key), now: now.getTime() },
      },
      now,
    );
    if (o.problem) {
      // Keep the last known sizes rather than reporting zeros while blocked.
      delete next.flushers;
    }
    const summary = Object.fromEntries((next.conditions ?? []).map((c) => [c.type, c.status])) as ConditionSummary;
    this.d.metrics.pipelineConditions.set(`${ns}/${p.metadata.name}`, summary);
    if (next.poolSize !== undefined)
      this.d.metrics.poolSize.set({ namespace: ns, pipeline: p.metadata.name }, next.poolSize);
    if (!statusChanged(stored, next)) return;
    const patch: { status: IngestPipelineStatus } = { status: next };
    await this.d.client.request('PATCH', `${objectPath(PIPELINES, ns, p.metadata.name)}/status`, {
      body: patch,
      contentType: 'application/merge-patch+json',
    });
    this.written.set(key, { overRv: p.metadata.resourceVersion ?? '', status: { ...stored, ...next } });
    for (const c of conditionChanges(stored?.conditions, next.conditions ?? [])) {
      if ((SUBSYSTEM_CONDITIONS as readonly string[]).includes(c.type)) {
        const type = subsystemEvent(
          { type: c.type, status: c.to, reason: c.reason },
          stored?.conditions?.find((x) => x.type === c.type),
        );
        if (type) this.d.events.emit(p, type, c.reason, `${c.type} is ${c.to}: ${c.message}`);
        continue;
      }
      const warning =
        (c.type === 'Degraded' && c.to === 'True') || (c.type === 'Ready' && c.to === 'False' && o.problem);
      // A pipeline's first conditions (Ready False while its rollout starts, Degraded False, Progressing True)
      // are routine: only a first condition that reports a problem is an Event (one POST less per pipeline).
      if (c.from === undefined && !warning) continue;
      this.d.events.emit(p, warning ? 'Warning' : 'Normal', c.reason, `${c.type} is ${c.to}: ${c.message}`);
    }
    log.info(
      {
        ready: summary.Ready,
        degraded: summary.Degraded,
        progressing: summary.Progressing,
        generation: next.observedGeneration,
      },
      'status updated',
    );
  }
}

/** What the status reports after a successful apply: the workloads' rollout state and the sizes in effect. */
export function observed(r: ResolvedPipeline, sizes: Sizes, results: ApplyResult[]): Observed {
  const n = names(r.name);
  const workload = results.find((x) => x.name === n.worker && (x.kind === 'Deployment' || x.kind === 'StatefulSet'));
  const bouncer = results.find((x) => x.name === n.pgbouncer && x.kind === 'Deployment');
  return {
    ...(workload?.object ? { workers: workloadState(workload.object) } : {}),
    ...(r.sink.pgbouncer.enabled && bouncer?.object ? { pgbouncer: workloadState(bouncer.object) } : {}),
    flushers: sizes.flushers,
    ...(r.sink.pgbouncer.enabled ? { poolSize: sizes.poolSize } : {}),
  };
}
