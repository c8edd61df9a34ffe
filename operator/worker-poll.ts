// The one loop that asks the worker pods: every tick, per pipeline, each consumer says which of the worker's
// listeners it needs now (the conditions: /subsystems on the health port every few seconds; the autoscaler:
// /metrics on the metrics port every spec.autoscaling.interval), and one pass over the pipeline's running
// worker pods fetches exactly those, through one keep-alive connection pool for the whole operator. The
// consumers read the pass; they never open a connection to a worker themselves.

import { Agent, request } from 'undici';
import { HTTP_PATHS } from '../api/contract.ts';
import type { IngestPipeline } from '../api/types.ts';
import { pipelineKey } from './cache-shapes.ts';
import type { InformerSet } from './runtime/informer.ts';
import { type KubeObject, keyOf } from './runtime/kube.ts';
import {
  type Endpoint,
  endpointUrl,
  type PodObject,
  podsOf,
  running,
  type WorkerListener,
  workerEndpoint,
} from './worker-endpoint.ts';

/** What the operator reads on each worker listener. */
export const POLLED_PATHS: Record<WorkerListener, string> = {
  metrics: HTTP_PATHS.metrics,
  health: HTTP_PATHS.subsystems,
};

export const POLL_TICK_MS = 1_000;
const REQUEST_TIMEOUT_MS = 3_000;

/** One listener's answer: the body of a 200, or why there is none (an error code, `timed out`, `HTTP 503`). */
export type Reading = { url: string; text: string } | { url?: string; error: string };

/** One worker pod in one pass. */
export interface PodPoll {
  pod: string;
  /** Counters restart with the process: a new pod under an old name is told apart by its uid. */
  uid: string;
  /** Undefined while the pod has no IP: it was not asked (readings say so). */
  ip?: string;
  atMs: number;
  readings: Partial<Record<WorkerListener, Reading>>;
}

/** A reader of the worker pods' answers (the health conditions, the autoscaler). */
export interface PollConsumer {
  /** The listeners this consumer needs of the pipeline's pods now; undefined or empty: nothing now. */
  due(p: IngestPipeline & KubeObject, now: number): readonly WorkerListener[] | undefined;
  /** The pass it asked for: every running worker pod of the pipeline (none: an empty list). */
  take(p: IngestPipeline & KubeObject, pass: PodPoll[]): void;
  /** The pipelines that still exist after a tick: state of the others can go. */
  prune?(seen: ReadonlySet<string>): void;
}

export interface WorkerPollOptions {
  tickMs?: number;
  /** Where a worker pod serves a listener. Default: workerEndpoint (its podIP, the named container port). */
  endpoint?: (pod: PodObject, listener: WorkerListener) => Endpoint | undefined;
  now?: () => number;
}

export interface WorkerPollDeps {
  pipelines: Pick<InformerSet<IngestPipeline & KubeObject>, 'list'>;
  pods: Pick<InformerSet<PodObject>, 'byIndex'>;
  log: { warn(fields: object, msg: string): void };
}

export class WorkerPoller {
  private readonly d: WorkerPollDeps;
  private readonly o: WorkerPollOptions;
  private readonly consumers: PollConsumer[] = [];
  private readonly inFlight = new Map<string, Promise<void>>();
  // A pod's listener is asked at most once per pass: two connections per origin leave room for a slow one.
  private readonly agent = new Agent({ connections: 2, keepAliveTimeout: 10_000 });
  private timer?: NodeJS.Timeout;
  /** Requests sent since start, per listener (the figure docs/autoscaling.md reports at rest). */
  readonly requests: Record<WorkerListener, number> = { metrics: 0, health: 0 };

  constructor(deps: WorkerPollDeps, opts: WorkerPollOptions = {}) {
    this.d = deps;
    this.o = opts;
  }

  add(consumer: PollConsumer): void {
    this.consumers.push(consumer);
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.o.tickMs ?? POLL_TICK_MS);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight.values()]);
    await this.agent.close();
  }

  /** Starts a pass for every pipeline a consumer needs something of (and that is not mid-pass). */
  tick(): void {
    const now = this.o.now?.() ?? Date.now();
    const seen = new Set<string>();
    for (const p of this.d.pipelines.list()) {
      const key = keyOf(p);
      seen.add(key);
      if (p.metadata.deletionTimestamp || this.inFlight.has(key)) continue;
      const wanted = this.consumers
        .map((c) => ({ c, listeners: c.due(p, now) ?? [] }))
        .filter((w) => w.listeners.length > 0);
      if (wanted.length === 0) continue;
      const listeners = [...new Set(wanted.flatMap((w) => w.listeners))];
      const pass = this.pass(p, listeners)
        .then((pods) => {
          for (const w of wanted) w.c.take(p, pods);
        })
        .catch((err: Error) =>
          this.d.log.warn(
            { namespace: p.metadata.namespace, name: p.metadata.name, err: err.message },
            'worker poll failed; asking again next tick',
          ),
        )
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pass);
    }
    for (const c of this.consumers) c.prune?.(seen);
  }

  /** Waits for the passes in flight (tests: one tick, then its outcome). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** One pass: every running worker pod of the pipeline, each of `listeners` asked once, all at once. */
  async pass(p: IngestPipeline & KubeObject, listeners: readonly WorkerListener[]): Promise<PodPoll[]> {
    const ns = p.metadata.namespace ?? 'default';
    const pods = podsOf(this.d.pods.byIndex(pipelineKey(ns, p.metadata.name)), ns, p.metadata.name, 'worker').filter(
      (pod) => pod.status?.phase === 'Running' && !pod.metadata.deletionTimestamp,
    );
    const endpoint = this.o.endpoint ?? workerEndpoint;
    return Promise.all(
      pods.map(async (pod) => {
        const entries = await Promise.all(
          listeners.map(async (l): Promise<[WorkerListener, Reading]> => {
            const at = running(pod) ? endpoint(pod, l) : undefined;
            return [l, at ? await this.get(l, endpointUrl(at, POLLED_PATHS[l])) : { error: 'no pod IP yet' }];
          }),
        );
        return {
          pod: pod.metadata.name,
          uid: pod.metadata.uid ?? pod.metadata.name,
          ...(pod.status?.podIP ? { ip: pod.status.podIP } : {}),
          atMs: this.o.now?.() ?? Date.now(),
          readings: Object.fromEntries(entries),
        };
      }),
    );
  }

  private async get(listener: WorkerListener, url: string): Promise<Reading> {
    this.requests[listener]++;
    try {
      const res = await request(url, {
        dispatcher: this.agent,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return { url, error: `HTTP ${res.statusCode} from ${POLLED_PATHS[listener]}` };
      }
      return { url, text: await res.body.text() };
    } catch (err) {
      const e = err as Error & { code?: string; cause?: { code?: string } };
      const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED';
      return { url, error: timedOut ? 'timed out' : (e.code ?? e.cause?.code ?? e.message) };
    }
  }
}
