// The I/O of the WAL drains (operator/wal-drain.ts decides): reads the pipeline's WAL volumes, drain Jobs and
// their pods from the caches, creates and deletes Jobs, and deletes a volume once a Job drained it. Only a PVC
// that carries the pipeline's worker labels (the volumeClaimTemplate's) and the StatefulSet's claim name is
// ever deleted: never a volume the operator did not have created.

import type { Logger } from 'pino';
import type { ResolvedPipeline } from '../api/defaults.ts';
import type { IngestPipeline, WalDrainStatus } from '../api/types.ts';
import { deleteObject } from './apply.ts';
import { pipelineKey } from './cache-shapes.ts';
import type { EventSink } from './events.ts';
import { drainJobImage } from './image-policy.ts';
import { JOBS, PVCS } from './kinds.ts';
import { DRAIN_CLAIM_LABEL, DRAIN_ORDINAL_LABEL, renderDrainJob } from './render/drain-job.ts';
import { names, PIPELINE_LABEL, selectorLabels } from './render/meta.ts';
import { WAL_CLAIM_TEMPLATE } from './render/worker.ts';
import type { InformerSet } from './runtime/informer.ts';
import { ApiError, collectionPath, type KubeClient, type KubeObject } from './runtime/kube.ts';
import {
  type ClaimView,
  claimOrdinal,
  type DrainAttempt,
  type JobView,
  parseDrainReport,
  planDrains,
} from './wal-drain.ts';

export interface WalDrainerDeps {
  client: KubeClient;
  /** Drain Jobs, PVCs and pods, all by the managed-by label. */
  jobs: InformerSet;
  claims: InformerSet;
  pods: InformerSet;
  events: EventSink;
  /** --worker-image, for a pipeline without spec.image. */
  workerImage?: string;
  /** --allowed-images: a spec.image outside it is not run; the drain Jobs run --worker-image instead. */
  allowedImages?: readonly string[];
  /** --drain-timeout: how long one drain attempt waits for PostgreSQL before it reports and retries. */
  drainTimeout?: string;
}

interface PodShape {
  metadata: KubeObject['metadata'];
  status?: {
    containerStatuses?: Array<{ state?: { terminated?: { exitCode: number; message?: string; finishedAt?: string } } }>;
  };
}

const matches = (o: KubeObject, ns: string, want: Record<string, string>) =>
  o.metadata.namespace === ns && Object.entries(want).every(([k, v]) => o.metadata.labels?.[k] === v);

export class WalDrainer {
  private readonly d: WalDrainerDeps;

  constructor(deps: WalDrainerDeps) {
    this.d = deps;
  }

  /** The pipeline's WAL volumes: the worker labels and a `wal-<p>-worker-<n>` name, both. */
  claims(pipeline: string, ns: string): Array<ClaimView & { uid: string }> {
    const want = { ...selectorLabels(pipeline, 'worker'), [PIPELINE_LABEL]: pipeline };
    const out: Array<ClaimView & { uid: string }> = [];
    for (const c of this.d.claims.byIndex(pipelineKey(ns, pipeline))) {
      if (!matches(c, ns, want)) continue;
      const ordinal = claimOrdinal(c.metadata.name, WAL_CLAIM_TEMPLATE, names(pipeline).worker);
      if (ordinal === undefined) continue;
      out.push({ name: c.metadata.name, ordinal, deleting: !!c.metadata.deletionTimestamp, uid: c.metadata.uid ?? '' });
    }
    return out;
  }

  /** Ordinals that have a worker pod, terminating ones included. */
  private workerOrdinals(pipeline: string, ns: string): Set<number> {
    const want = selectorLabels(pipeline, 'worker');
    const prefix = `${names(pipeline).worker}-`;
    const out = new Set<number>();
    for (const pod of this.d.pods.byIndex(pipelineKey(ns, pipeline))) {
      if (!matches(pod, ns, want) || !pod.metadata.name.startsWith(prefix)) continue;
      const n = Number(pod.metadata.name.slice(prefix.length));
      if (Number.isInteger(n)) out.add(n);
    }
    return out;
  }

  private jobs(pipeline: string, ns: string): Array<JobView & { object: KubeObject }> {
    const want = { ...selectorLabels(pipeline, 'drain'), [PIPELINE_LABEL]: pipeline };
    const key = pipelineKey(ns, pipeline);
    const pods = this.d.pods.byIndex(key) as PodShape[];
    return this.d.jobs
      .byIndex(key)
      .filter((j) => matches(j, ns, want))
      .map((j) => {
        const conditions = ((j.status ?? {}) as { conditions?: Array<{ type: string; status: string }> }).conditions;
        const has = (type: string) => conditions?.some((c) => c.type === type && c.status === 'True') ?? false;
        const attempts: DrainAttempt[] = [];
        for (const pod of pods) {
          if (!pod.metadata.ownerReferences?.some((r) => r.uid === j.metadata.uid)) continue;
          const t = pod.status?.containerStatuses?.[0]?.state?.terminated;
          if (!t) continue;
          attempts.push({ exitCode: t.exitCode, finishedAt: t.finishedAt ?? '', ...parseDrainReport(t.message) });
        }
        return {
          name: j.metadata.name,
          ordinal: Number(j.metadata.labels?.[DRAIN_ORDINAL_LABEL] ?? -1),
          claim: j.metadata.labels?.[DRAIN_CLAIM_LABEL] ?? '',
          complete: has('Complete'),
          failed: has('Failed'),
          deleting: !!j.metadata.deletionTimestamp,
          attempts,
          object: j,
        };
      });
  }

  /**
   * One pass: Jobs for the volumes of ordinals at or above `keep` whose pods are gone, volumes released once
   * drained, Jobs of ordinals that came back removed. Returns what the status shows per volume.
   */
  async sync(
    p: IngestPipeline,
    r: ResolvedPipeline,
    ns: string,
    keep: number,
    previous: WalDrainStatus[] | undefined,
    log: Logger,
  ): Promise<WalDrainStatus[]> {
    const pipeline = p.metadata.name;
    const claims = this.claims(pipeline, ns);
    const jobs = this.jobs(pipeline, ns);
    if (claims.length === 0 && jobs.length === 0) return [];
    const plan = planDrains({
      keep,
      workerPods: this.workerOrdinals(pipeline, ns),
      claims,
      jobs,
      previous,
      jobName: names(pipeline).drainJob,
    });
    // The volume first: should that fail, its Job stays, and the next pass retries rather than draining again.
    for (const name of plan.deleteClaims) {
      const c = claims.find((x) => x.name === name);
      if (!c) continue;
      await deleteObject(
        this.d.client,
        { kind: 'PersistentVolumeClaim', metadata: { name, namespace: ns, uid: c.uid } },
        PVCS,
      );
      const message = `WAL volume ${name} of removed worker ordinal ${c.ordinal} drained; PersistentVolumeClaim deleted`;
      log.info({ claim: name }, message);
      this.d.events.emit(p, 'Normal', 'WALDrained', message);
    }
    for (const name of plan.deleteJobs) {
      const j = jobs.find((x) => x.name === name);
      if (j) await deleteObject(this.d.client, j.object, JOBS);
      log.info({ job: name }, `drain Job ${name} deleted`);
    }
    for (const ordinal of plan.createJobs) {
      const job = renderDrainJob(p, r, {
        image: drainJobImage(p, this.d),
        ordinal,
        ...(this.d.drainTimeout ? { timeout: this.d.drainTimeout } : {}),
      });
      try {
        await this.d.client.request('POST', collectionPath(JOBS, ns), { body: job });
      } catch (err) {
        // The previous Job of that name is still being deleted: the next pass creates it.
        if (!(err instanceof ApiError && err.status === 409)) throw err;
        continue;
      }
      const message = `Job ${job.metadata.name} created to drain the WAL volume ${job.spec.template.spec.volumes?.find((v) => v.name === WAL_CLAIM_TEMPLATE)?.persistentVolumeClaim?.claimName} of removed worker ordinal ${ordinal}`;
      log.info({ job: job.metadata.name }, message);
      this.d.events.emit(p, 'Normal', 'DrainingWAL', message);
    }
    return plan.status;
  }
}
