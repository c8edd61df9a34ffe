// Polls every worker pod's health per subsystem (HTTP_PATHS.subsystems on its health port,
// api/worker-health.ts) every few seconds, for every pipeline, and keeps the last answers for the reconciler,
// which turns them into conditions (status.ts → subsystem-conditions.ts). A pipeline is reconciled only when
// its conditions would change, so a steady pipeline causes no work and no status write.

import type { Logger } from 'pino';
import { HTTP_PATHS, WORKER_PORTS } from '../api/contract.ts';
import type { IngestPipeline } from '../api/types.ts';
import type { WorkerHealthReport } from '../api/worker-health.ts';
import type { Endpoint, PodObject } from './autoscale/gather.ts';
import { PIPELINE_LABEL } from './render/meta.ts';
import type { InformerSet } from './runtime/informer.ts';
import { type KubeObject, keyOf } from './runtime/kube.ts';
import { subsystemConditions, type WorkerHealth } from './subsystem-conditions.ts';

export const HEALTH_POLL_MS = 5_000;
const REQUEST_TIMEOUT_MS = 2_000;

export interface WorkerHealthOptions {
  intervalMs?: number;
  /** Where a worker pod serves its health port. Default: its podIP and the container port named `health`. */
  healthAddress?: (pod: PodObject) => Endpoint | undefined;
}

export interface WorkerHealthDeps {
  pipelines: InformerSet<IngestPipeline & KubeObject>;
  pods: InformerSet<PodObject>;
  /** The pipeline's conditions would change: reconcile it. */
  changed: (key: string) => void;
  log: Logger;
}

export function defaultHealthAddress(pod: PodObject): Endpoint | undefined {
  if (!pod.status?.podIP) return undefined;
  const port =
    pod.spec?.containers?.flatMap((c) => c.ports ?? []).find((p) => p.name === WORKER_PORTS.health.name)
      ?.containerPort ?? WORKER_PORTS.health.port;
  return { host: pod.status.podIP, port };
}

export class WorkerHealthPoller {
  private readonly d: WorkerHealthDeps;
  private readonly o: WorkerHealthOptions;
  private readonly last = new Map<string, { health: WorkerHealth[]; signature: string }>();
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;

  constructor(deps: WorkerHealthDeps, opts: WorkerHealthOptions = {}) {
    this.d = deps;
    this.o = opts;
  }

  /** The last answers of a pipeline's worker pods; undefined until its first poll. */
  get(key: string): WorkerHealth[] | undefined {
    return this.last.get(key)?.health;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.round ??= this.poll().finally(() => {
        this.round = undefined;
      });
    }, this.o.intervalMs ?? HEALTH_POLL_MS);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.round;
  }

  /** One poll of every pipeline's worker pods. */
  async poll(): Promise<void> {
    const seen = new Set<string>();
    await Promise.all(
      this.d.pipelines.list().map(async (p) => {
        const key = keyOf(p);
        seen.add(key);
        if (p.metadata.deletionTimestamp) return;
        const health = await this.ask(p);
        // Compared by the conditions they make, not by the raw reports (WAL sizes move all the time).
        const signature = JSON.stringify(
          subsystemConditions({
            generation: 0,
            paused: p.spec?.paused === true,
            workersDesired: health.length,
            health,
            now: Date.now(),
          }),
        );
        const before = this.last.get(key);
        this.last.set(key, { health, signature });
        if (before?.signature !== signature) this.d.changed(key);
      }),
    );
    for (const key of this.last.keys()) if (!seen.has(key)) this.last.delete(key);
  }

  private async ask(p: IngestPipeline & KubeObject): Promise<WorkerHealth[]> {
    const pods = this.d.pods
      .list()
      .filter(
        (pod) =>
          pod.metadata.namespace === p.metadata.namespace &&
          pod.metadata.labels?.[PIPELINE_LABEL] === p.metadata.name &&
          pod.metadata.labels?.['app.kubernetes.io/component'] === 'worker' &&
          pod.status?.phase === 'Running' &&
          !pod.metadata.deletionTimestamp,
      );
    const address = this.o.healthAddress ?? defaultHealthAddress;
    return Promise.all(
      pods.map(async (pod): Promise<WorkerHealth> => {
        const name = pod.metadata.name;
        const at = address(pod);
        if (!at) return { pod: name, error: 'no pod IP yet' };
        try {
          const res = await fetch(`http://${at.host}:${at.port}${HTTP_PATHS.subsystems}`, {
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          if (!res.ok) return { pod: name, error: `HTTP ${res.status} from ${HTTP_PATHS.subsystems}` };
          return { pod: name, report: (await res.json()) as WorkerHealthReport };
        } catch (err) {
          const e = err as Error & { cause?: { code?: string } };
          return { pod: name, error: e.cause?.code ?? (e.name === 'TimeoutError' ? 'timed out' : e.message) };
        }
      }),
    );
  }
}
