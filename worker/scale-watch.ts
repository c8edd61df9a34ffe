// In a cluster, the worker watches its own IngestPipeline. spec.paused reaches it live (worker/pause.ts), and
// so does the autoscaler's flusher count:
// it applies status.autoscaling.current.flushers without a restart (the operator keeps the count out of the
// pod config hash). And a StatefulSet worker learns whether its ordinal is being scaled away (or the pipeline
// deleted): such a worker's client id does not come back, so on SIGTERM it must end its broker session rather
// than keep one that would take its share of the traffic until it expires. The worker's Role allows
// get/list/watch on that one object.

import { checkPipeline } from '../api/check.ts';
import { pipelinesPath } from '../api/contract.ts';
import { clampCount, effectiveSizes } from '../api/sizes.ts';
import type { IngestPipeline } from '../api/types.ts';
import { Backoff } from '../common/backoff.ts';
import { defaultAuth } from '../common/kube-auth.ts';
import { type WatchStream, watchCollection } from '../common/kube-watch.ts';
import type { Logger } from '../common/logger.ts';

export interface ScaleTarget {
  namespace: string;
  name: string;
  minFlushers: number;
  maxFlushers: number;
  /** This worker's instance (its pod name): "<pipeline>-worker-<ordinal>" for StatefulSet pods. */
  instance: string;
}

interface PipelineLike {
  spec?: { autoscaling?: { enabled?: boolean } };
  status?: { autoscaling?: { current?: { flushers?: unknown } } };
}

/**
 * Whether this worker's identity is going away for good: the pipeline is being deleted, or the worker is a
 * StatefulSet pod whose ordinal is at or beyond the replicas in effect (api/sizes.ts: the spec's, or the
 * autoscaler's within bounds). Any other worker (a Deployment pod, a worker outside Kubernetes) is not an
 * ordinal and is never "leaving" here; neither is one whose pipeline no longer passes the checks.
 */
export function identityLeaving(obj: IngestPipeline, instance: string): boolean {
  if (obj.metadata.deletionTimestamp) return true;
  const prefix = `${obj.metadata.name}-worker-`;
  const ordinal = instance.startsWith(prefix) ? instance.slice(prefix.length) : '';
  if (!/^\d+$/.test(ordinal)) return false;
  const checked = checkPipeline(obj);
  return 'resolved' in checked && Number(ordinal) >= effectiveSizes(obj, checked.resolved).replicas;
}

/** The flusher count a pipeline object asks for, or undefined when autoscaling does not drive it. */
export function desiredFlushers(obj: PipelineLike, t: ScaleTarget): number | undefined {
  if (obj.spec?.autoscaling?.enabled !== true) return undefined;
  const n = obj.status?.autoscaling?.current?.flushers;
  // Below 1 is no flusher count (the autoscaler never writes one): ignored, not clamped up to minFlushers.
  if (typeof n === 'number' && n < 1) return undefined;
  return clampCount(n, { min: t.minFlushers, max: t.maxFlushers });
}

export interface ScaleWatch {
  stop(): void;
}

export interface ScaleHandlers {
  flushers(n: number): void;
  /** spec.paused, applied live (worker/pause.ts). */
  paused?(paused: boolean): void;
  leaving(leaving: boolean): void;
}

export async function watchScale(t: ScaleTarget, on: ScaleHandlers, log: Logger): Promise<ScaleWatch> {
  const auth = await defaultAuth();
  const path = pipelinesPath(t.namespace);
  let stopped = false;
  const backoff = new Backoff({ initialMs: 1000, maxMs: 30_000, jitter: 0.5 });
  let stream: WatchStream | undefined;
  let timer: NodeJS.Timeout | undefined;

  const start = async () => {
    if (stopped) return;
    try {
      stream = await watchCollection<IngestPipeline>(
        auth,
        path,
        { fieldSelector: `metadata.name=${t.name}` },
        (phase, obj) => {
          backoff.reset();
          if (phase !== 'ADDED' && phase !== 'MODIFIED') return;
          const n = desiredFlushers(obj, t);
          if (n !== undefined) on.flushers(n);
          on.paused?.(obj.spec?.paused === true);
          on.leaving(identityLeaving(obj, t.instance));
        },
        (err) => restart(err),
      );
    } catch (err) {
      restart(err);
    }
  };
  const restart = (err: unknown) => {
    if (stopped) return;
    const delay = backoff.next();
    if (err) {
      const e = err as { message?: string; statusCode?: number; code?: number };
      const forbidden = e.statusCode === 403 || e.code === 403 || /forbidden/i.test(e.message ?? '');
      log.warn(
        { err: e.message ?? String(err), retryInMs: delay },
        forbidden
          ? 'cannot watch the IngestPipeline (the worker Role must allow get/list/watch on it); the flusher count stays as it is'
          : 'pipeline watch ended; re-watching',
      );
    }
    timer = setTimeout(() => void start(), err ? delay : 0);
  };
  await start();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      stream?.abort();
    },
  };
}
