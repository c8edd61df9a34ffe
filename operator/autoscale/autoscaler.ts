// The autoscaling loop: every spec.autoscaling.interval, per pipeline with autoscaling enabled, gather the
// signals (gather.ts), decide (decide.ts, pure) and apply the decision (apply.ts: status.autoscaling, Events,
// the live PgBouncer pool size). This file holds only the schedule and what each pipeline carries from one
// round to the next; the cooldowns themselves are decided from status.autoscaling.lastChangeTime, so they
// survive an operator restart.

import type { Logger } from 'pino';
import { checkPipeline } from '../../api/check.ts';
import { DEFAULT_AUTOSCALING_INTERVAL } from '../../api/defaults.ts';
import type { IngestPipeline } from '../../api/types.ts';
import { parseDurationMs } from '../../api/units.ts';
import type { EventSink } from '../events.ts';
import type { InformerSet } from '../runtime/informer.ts';
import { type KubeClient, type KubeObject, keyOf } from '../runtime/kube.ts';
import { DecisionApplier, storedStatus, type WriteRecord } from './apply.ts';
import { decide } from './decide.ts';
import { closeGatherState, type GatherOptions, type GatherState, type PodObject, SignalGatherer } from './gather.ts';

// The manager's pod informer is typed by what the autoscaler reads of a pod.
export type { PodObject } from './gather.ts';

export interface AutoscalerOptions extends GatherOptions {
  /** How often the loop looks for pipelines whose interval has passed (default 1 s). */
  tickMs?: number;
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

export class Autoscaler {
  private readonly d: AutoscalerDeps;
  private readonly o: AutoscalerOptions;
  private readonly gatherer: SignalGatherer;
  private readonly applier: DecisionApplier;
  private readonly state = new Map<string, PipelineState>();
  private timer?: NodeJS.Timeout;
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

  start(): void {
    this.timer = setInterval(() => this.tick(), this.o.tickMs ?? 1_000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight]);
    for (const s of this.state.values()) closeGatherState(s);
    this.state.clear();
  }

  /** Starts a round for every pipeline whose interval has passed (and that is not mid-round). */
  tick(): void {
    const now = this.now();
    const seen = new Set<string>();
    for (const p of this.d.pipelines.list()) {
      const key = keyOf(p);
      seen.add(key);
      const auto = p.spec?.autoscaling;
      // A pipeline that never autoscaled has nothing to do; one with a record left gets a round to clear it.
      if (!auto?.enabled && !p.status?.autoscaling) continue;
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
      if (st.running || now - st.lastRunMs < interval) continue;
      st.running = true;
      st.lastRunMs = now;
      const state = st;
      const work = this.round(key, state)
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
    for (const [key, st] of this.state) {
      if (seen.has(key) || st.running) continue;
      closeGatherState(st);
      this.state.delete(key);
    }
  }

  /** One round for one pipeline: gather → decide → apply. */
  async round(key: string, st: PipelineState): Promise<void> {
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
    const gathered = await this.gatherer.gather(p, r, stored, st);
    await this.applier.apply(p, gathered, decide(gathered.input), stored, st, log);
  }
}
