// The autoscaling rounds: every spec.autoscaling.interval, per pipeline with autoscaling enabled, gather the
// signals (gather.ts), decide (decide.ts, pure) and apply the decision (apply.ts: status.autoscaling, Events,
// the live PgBouncer pool size). The schedule is the one worker poll's (operator/worker-poll.ts): it asks
// due() every tick and hands the round its pass over the worker pods' /metrics. This file holds only when a
// round is due and what each pipeline carries from one round to the next; the cooldowns themselves are
// decided from status.autoscaling.lastChangeTime, so they survive an operator restart.

import type { Logger } from 'pino';
import { checkPipeline } from '../../api/check.ts';
import { DEFAULT_AUTOSCALING_INTERVAL } from '../../api/defaults.ts';
import type { IngestPipeline } from '../../api/types.ts';
import { parseDurationMs } from '../../api/units.ts';
import type { EventSink } from '../events.ts';
import type { InformerSet } from '../runtime/informer.ts';
import { type KubeClient, type KubeObject, keyOf } from '../runtime/kube.ts';
import type { WorkerListener } from '../worker-endpoint.ts';
import type { PodPoll, PollConsumer } from '../worker-poll.ts';
import { DecisionApplier, storedStatus, type WriteRecord } from './apply.ts';
import { decide } from './decide.ts';
import { closeGatherState, type GatherOptions, type GatherState, type PodObject, SignalGatherer } from './gather.ts';

// The manager's pod informer is typed by what the autoscaler reads of a pod.
export type { PodObject } from './gather.ts';

export interface AutoscalerOptions extends GatherOptions {
  now?: () => number;
}

export interface AutoscalerDeps {
  client: KubeClient;
  pipelines: InformerSet<IngestPipeline & KubeObject>;
  pods: InformerSet<PodObject>;
  /** Data (base64) of a Secret, or undefined when it does not exist (the reconciler's cached reader). */
  readSecret: (namespace: string, name: string) => Promise<Record<string, string> | undefined>;
  events: EventSink;
  log: Logger;
  onDecision?: (decision: string, direction: string) => void;
}

interface PipelineState extends GatherState, WriteRecord {
  lastRunMs: number;
  /** A round is in flight: the next one waits for it, so a slow source never stacks rounds up. */
  running: boolean;
}

const DEFAULT_INTERVAL_MS = parseDurationMs(DEFAULT_AUTOSCALING_INTERVAL);
const METRICS: readonly WorkerListener[] = ['metrics'];

export class Autoscaler implements PollConsumer {
  private readonly d: AutoscalerDeps;
  private readonly o: AutoscalerOptions;
  private readonly gatherer: SignalGatherer;
  private readonly applier: DecisionApplier;
  private readonly state = new Map<string, PipelineState>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(deps: AutoscalerDeps, opts: AutoscalerOptions = {}) {
    this.d = deps;
    this.o = opts;
    const now = () => this.now();
    this.gatherer = new SignalGatherer({ ...deps, now }, opts);
    this.applier = new DecisionApplier(deps);
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    for (const s of this.state.values()) closeGatherState(s);
    this.state.clear();
  }

  /**
   * Whether a round of pipeline `p` is due (its interval passed, none in flight): the worker pods' /metrics
   * when it needs them; a paused pipeline or one whose autoscaling was switched off gets its round at once,
   * without asking the workers (it holds, or clears its record).
   */
  due(p: IngestPipeline & KubeObject): readonly WorkerListener[] | undefined {
    const key = keyOf(p);
    const auto = p.spec?.autoscaling;
    // A pipeline that never autoscaled has nothing to do; one with a record left gets a round to clear it.
    if (!auto?.enabled && !p.status?.autoscaling) return undefined;
    let st = this.state.get(key);
    if (!st) {
      st = { lastRunMs: 0, running: false, samples: new Map(), lastMetricsWriteMs: 0 };
      this.state.set(key, st);
    }
    let interval = DEFAULT_INTERVAL_MS;
    try {
      interval = auto?.interval ? parseDurationMs(auto.interval) : DEFAULT_INTERVAL_MS;
    } catch {
      // An invalid interval is reported by the reconciler (InvalidSpec); keep the default meanwhile.
    }
    const now = this.now();
    if (st.running || now - st.lastRunMs < interval) return undefined;
    st.running = true;
    st.lastRunMs = now;
    if (auto?.enabled && p.spec?.paused !== true) return METRICS;
    this.begin(p, st, []);
    return undefined;
  }

  /** The pass due() asked for: the round runs on it. */
  take(p: IngestPipeline & KubeObject, pass: PodPoll[]): void {
    const st = this.state.get(keyOf(p));
    if (st) this.begin(p, st, pass);
  }

  prune(seen: ReadonlySet<string>): void {
    for (const [key, st] of this.state) {
      if (seen.has(key) || st.running) continue;
      closeGatherState(st);
      this.state.delete(key);
    }
  }

  private begin(p: IngestPipeline & KubeObject, state: PipelineState, pass: PodPoll[]): void {
    const work = this.round(keyOf(p), state, pass)
      .catch((err: Error) =>
        this.d.log.warn(
          { namespace: p.metadata.namespace, name: p.metadata.name, err: err.message },
          'autoscaling round failed; retrying next interval',
        ),
      )
      .finally(() => {
        state.running = false;
        this.inFlight.delete(work);
      });
    this.inFlight.add(work);
  }

  /** One round for one pipeline: gather → decide → apply. */
  async round(key: string, st: PipelineState, pass: PodPoll[]): Promise<void> {
    const p = this.d.pipelines.get(key);
    if (!p || p.metadata.deletionTimestamp) return;
    const log = this.d.log.child({ namespace: p.metadata.namespace ?? 'default', name: p.metadata.name });
    const stored = storedStatus(p, st);
    const checked = checkPipeline(p);
    if ('problem' in checked) return; // the reconciler reports it as Degraded
    const r = checked.resolved;
    // Paused (spec.paused): no traffic to measure, the backlog only drains; sizes hold until it resumes.
    if (r.paused) return;
    if (!r.autoscaling.enabled) {
      await this.applier.disable(p, stored, st, log);
      return;
    }
    const gathered = await this.gatherer.gather(p, r, stored, st, pass);
    await this.applier.apply(p, gathered, decide(gathered.input), stored, st, log);
  }
}
