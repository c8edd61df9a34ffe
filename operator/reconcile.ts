// One reconcile of one IngestPipeline, a chain of named steps: check (the worker's own loader checks) → read
// Secrets → desired objects (operator/desired.ts, pure, also behind `mqtt2pg render`) → apply → prune →
// status (operator/status-writer.ts). Problems the user must fix (a missing Secret, an invalid spec) end the reconcile with Degraded and
// no retry: the watch on the Secret or the pipeline brings the next one. API errors are thrown and retried
// with backoff by the work queue. Every pipeline carries the drain finalizer; once one is deleted, the steps
// of operator/deletion.ts run instead (workers scaled to 0, wait for their pods, drain the WAL volumes they
// left, then the finalizer goes). A Persistent pipeline's reconcile also drains the volumes of ordinals scaled
// away (operator/wal-drainer.ts).

import type { Logger } from 'pino';
import { checkPipeline } from '../api/check.ts';
import type { ResolvedPipeline } from '../api/defaults.ts';
import type { Sizes } from '../api/sizes.ts';
import type { IngestPipeline, IngestPipelineStatus } from '../api/types.ts';
import {
  type ApplyResult,
  applyAll,
  changeEvents,
  deleteObject,
  OwnershipConflict,
  orphanedChildren,
} from './apply.ts';
import { pipelineKey } from './cache-shapes.ts';
import {
  type DeletionStep,
  DRAIN_FINALIZER,
  DRAIN_POLL_MS,
  deletionStep,
  FORCE_DELETE_ANNOTATION,
  type WorkerState,
} from './deletion.ts';
import { desiredPipeline, type Images } from './desired.ts';
import { CHILD_KINDS, childKind, PIPELINES } from './kinds.ts';
import { pgbouncerAdminPassword } from './pgbouncer-admin.ts';
import { names, selectorLabels } from './render/meta.ts';
import { isPersistent } from './render/worker.ts';
import type { InformerSet } from './runtime/informer.ts';
import { ApiError, type KubeObject, objectPath } from './runtime/kube.ts';
import type { HandlerResult } from './runtime/queue.ts';
import { SecretReader } from './secret-reader.ts';
import { referencedSecrets, type SecretData } from './secrets.ts';
import { observed, StatusWriter, type StatusWriterDeps } from './status-writer.ts';
import { resizeWalVolumes } from './volume-resizer.ts';
import type { WalDrainer } from './wal-drainer.ts';

/** What a reconcile reads and writes through; the status step's own (client, events, metrics, health, now) included. */
export interface ReconcilerDeps extends StatusWriterDeps {
  pipelines: InformerSet<IngestPipeline & KubeObject>;
  children: Record<string, InformerSet>;
  /** Metadata-only cache of Secrets: notices rotations without holding every Secret's data. */
  secretMeta: InformerSet;
  /** The pipelines' pods (managed-by label): a deletion waits until no worker pod is left. */
  pods: InformerSet;
  /** Drains the WAL volumes of removed worker ordinals. */
  drainer: WalDrainer;
  log: Logger;
  /** The operator-wide default images. */
  render: Images;
}

export class Reconciler {
  private readonly d: ReconcilerDeps;
  private readonly secrets: SecretReader;
  private readonly status: StatusWriter;
  /** The spec generation whose overridden spec.replicas was last reported, per pipeline. */
  private readonly replicasReported = new Map<string, number>();

  constructor(deps: ReconcilerDeps) {
    this.d = deps;
    this.secrets = new SecretReader(deps.client, deps.secretMeta);
    this.status = new StatusWriter(deps);
  }

  /** Pipelines to reconcile when the Secret with this key changes. */
  pipelinesUsingSecret(secretKey: string): string[] {
    return this.secrets.pipelinesUsing(secretKey);
  }

  forgetSecret(secretKey: string): void {
    this.secrets.forget(secretKey);
  }

  /** A Secret's data (cached while its resourceVersion holds), or undefined when it does not exist. */
  readSecret(ns: string, name: string): Promise<SecretData | undefined> {
    return this.secrets.read(ns, name);
  }

  async reconcile(key: string): Promise<HandlerResult | undefined> {
    let p = this.d.pipelines.get(key);
    if (!p) {
      this.forget(key);
      return undefined;
    }
    const ns = p.metadata.namespace ?? 'default';
    const log = this.d.log.child({ namespace: ns, name: p.metadata.name });
    const end = this.d.metrics.reconcileDuration.startTimer();
    try {
      const step = deletionStep(p, this.workerState(p, ns));
      if (step.step !== 'reconcile') {
        const result = await this.delete(key, p, ns, step, log);
        this.d.metrics.reconciles.inc({ result: 'success' });
        return result;
      }
      if (step.addFinalizer) {
        p = await this.setFinalizers(p, ns, [...(p.metadata.finalizers ?? []), DRAIN_FINALIZER]);
      }
      const { outcome, draining } = await this.reconcilePipeline(p, ns, log);
      this.d.metrics.reconciles.inc({ result: outcome });
      // Job and pod events wake a drain too; the poll covers a report that reaches the cache late.
      return draining ? { requeueAfterMs: DRAIN_POLL_MS } : undefined;
    } catch (err) {
      this.d.metrics.reconciles.inc({ result: 'error' });
      this.d.metrics.reconcileErrors.inc();
      throw err;
    } finally {
      end();
    }
  }

  /** Children go with their owner through the garbage collector; nothing of the pipeline is kept. */
  private forget(key: string): void {
    this.secrets.index(key, []);
    this.status.forget(key);
    this.replicasReported.delete(key);
  }

  /** The worker workload (one still scaled up first) and how many worker pods exist, from the caches. */
  private workerState(p: IngestPipeline & KubeObject, ns: string): WorkerState {
    const name = names(p.metadata.name).worker;
    const workloads = ['Deployment', 'StatefulSet']
      .map((kind) => this.d.children[kind]?.get(`${ns}/${name}`))
      .filter((o): o is KubeObject => !!o && !o.metadata.deletionTimestamp)
      .map((o) => ({ kind: String(o.kind), name, replicas: (o.spec as { replicas?: number }).replicas ?? 1 }));
    const selector = Object.entries(selectorLabels(p.metadata.name, 'worker'));
    const pods = this.d.pods
      .byIndex(pipelineKey(ns, p.metadata.name))
      .filter((pod) => selector.every(([k, v]) => pod.metadata.labels?.[k] === v));
    const workload = workloads.find((w) => w.replicas > 0) ?? workloads[0];
    const walVolumes = this.d.drainer.claims(p.metadata.name, ns).length;
    return { ...(workload ? { workload } : {}), pods: pods.length, walVolumes };
  }

  /** One step of an ordered deletion: stop intake, wait for the worker pods, then let the children go. */
  private async delete(
    key: string,
    p: IngestPipeline & KubeObject,
    ns: string,
    step: Exclude<DeletionStep, { step: 'reconcile' }>,
    log: Logger,
  ): Promise<HandlerResult | undefined> {
    if (step.step === 'forget') {
      this.forget(key);
      return undefined;
    }
    if (step.step === 'release') {
      const rest = (p.metadata.finalizers ?? []).filter((f) => f !== DRAIN_FINALIZER);
      await this.setFinalizers(p, ns, rest);
      log.info({ reason: step.reason }, step.message);
      this.d.events.emit(p, step.reason === 'ForceDeleted' ? 'Warning' : 'Normal', step.reason, step.message);
      this.forget(key);
      return undefined;
    }
    if (step.step === 'scaleDown') {
      // A merge patch of replicas alone: an apply would claim only this field and drop the others.
      await this.d.client.request('PATCH', objectPath(childKind(step.kind), ns, step.name), {
        body: { spec: { replicas: 0 } },
        contentType: 'application/merge-patch+json',
      });
      log.info({ kind: step.kind, child: step.name }, step.message);
    }
    let walDrains: IngestPipelineStatus['walDrains'];
    let message = step.message;
    if (step.step === 'drainVolumes') {
      const checked = checkPipeline(p);
      if ('problem' in checked) {
        message = `cannot render the drain Jobs of the WAL volumes: ${checked.problem.message}; fix the spec, or annotate ${FORCE_DELETE_ANNOTATION}=true to delete without draining (the volumes are kept)`;
      } else {
        walDrains = await this.d.drainer.sync(p, checked.resolved, ns, 0, p.status?.walDrains, log);
      }
    }
    await this.status.write(
      p,
      { draining: { reason: step.reason, message }, ...(walDrains ? { walDrains } : {}) },
      log,
    );
    return { requeueAfterMs: DRAIN_POLL_MS };
  }

  /** The finalizers, guarded by the resourceVersion: a concurrent change fails with Conflict and is retried. */
  private async setFinalizers(
    p: IngestPipeline & KubeObject,
    ns: string,
    finalizers: string[],
  ): Promise<IngestPipeline & KubeObject> {
    return this.d.client.request<IngestPipeline & KubeObject>('PATCH', objectPath(PIPELINES, ns, p.metadata.name), {
      body: { metadata: { finalizers, resourceVersion: p.metadata.resourceVersion } },
      contentType: 'application/merge-patch+json',
    });
  }

  private async reconcilePipeline(
    p: IngestPipeline & KubeObject,
    ns: string,
    log: Logger,
  ): Promise<{ outcome: 'success' | 'problem'; draining?: boolean }> {
    const key = `${ns}/${p.metadata.name}`;
    const checked = checkPipeline(p);
    if ('problem' in checked) {
      this.secrets.index(key, []);
      await this.status.write(p, { problem: checked.problem }, log);
      return { outcome: 'problem' };
    }
    const r = checked.resolved;
    const { secretData, secretVersions } = await this.secrets.readAll(key, ns, referencedSecrets(r));
    const admin = r.sink.pgbouncer.enabled
      ? await pgbouncerAdminPassword(this.d.client, this.d.children.Secret, p)
      : '';
    const images = this.d.render;
    const desired = desiredPipeline({
      pipeline: p,
      resolved: r,
      secretData,
      secretVersions,
      images,
      pgbouncerAdmin: admin,
    });
    if (desired.problem) {
      log.warn({ reason: desired.problem.reason }, desired.problem.message);
      await this.status.write(p, { problem: desired.problem }, log);
      return { outcome: 'problem' };
    }
    this.reportOverriddenReplicas(p, r, desired.sizes);
    // A changed WAL volume template: the PVCs grow and the StatefulSet is replaced before the apply.
    const set = this.d.children.StatefulSet?.get(`${ns}/${names(p.metadata.name).worker}`);
    const resize = isPersistent(r) ? await resizeWalVolumes(this.d, p, desired.objects, set, log) : undefined;
    if (resize && 'problem' in resize) {
      await this.status.write(p, { problem: resize.problem }, log);
      return { outcome: 'problem' };
    }
    const results = await this.applyAndPrune(p, ns, desired.objects, log);
    // Ordinals at or above the replicas just applied are gone or going: their volumes are drained.
    const walDrains = isPersistent(r)
      ? await this.d.drainer.sync(p, r, ns, desired.sizes.replicas, p.status?.walDrains, log)
      : undefined;
    const progress = { ...(walDrains ? { walDrains } : {}), ...(resize ? { resizing: resize.resizing } : {}) };
    await this.status.write(p, { ...observed(r, desired.sizes, results), ...progress }, log);
    return { outcome: 'success', draining: (walDrains?.length ?? 0) > 0 };
  }

  /**
   * `kubectl scale`, an HPA or a hand edit set spec.replicas, but with autoscaling on the autoscaler owns the
   * pod count within its bounds: say so once per spec generation rather than ignore it silently.
   */
  private reportOverriddenReplicas(p: IngestPipeline & KubeObject, r: ResolvedPipeline, sizes: Sizes): void {
    const asked = p.spec.replicas;
    const key = `${r.namespace}/${r.name}`;
    if (!r.autoscaling.enabled || asked === undefined || asked === sizes.replicas) return;
    if (this.replicasReported.get(key) === p.metadata.generation) return;
    this.replicasReported.set(key, p.metadata.generation ?? 0);
    const a = r.autoscaling;
    this.d.events.emit(
      p,
      'Warning',
      'ReplicasOverridden',
      `spec.replicas ${asked} is not applied: spec.autoscaling.enabled, so the autoscaler sets the worker pods within spec.autoscaling.minReplicas..maxReplicas (${a.minReplicas}..${a.maxReplicas}; now ${sizes.replicas}); change those bounds, or set spec.autoscaling.enabled false to scale by hand`,
    );
  }

  /** Server-side applies every desired object, then deletes the children it no longer renders. */
  private async applyAndPrune(
    p: IngestPipeline & KubeObject,
    ns: string,
    desired: KubeObject[],
    log: Logger,
  ): Promise<ApplyResult[]> {
    const results: ApplyResult[] = [];
    try {
      const cached = (obj: KubeObject) => this.d.children[String(obj.kind)]?.get(`${ns}/${obj.metadata.name}`);
      await applyAll(this.d.client, p.metadata.uid ?? '', desired, cached, results);
      for (const orphan of orphanedChildren(p.metadata.uid ?? '', desired, this.liveChildren(ns, p.metadata.name))) {
        results.push(await deleteObject(this.d.client, orphan));
      }
      return results;
    } catch (err) {
      if (err instanceof OwnershipConflict) {
        // Not in the cache (no labels of ours), so no watch brings the next reconcile: the queue's backoff
        // retries until the user has removed or renamed it.
        await this.status.write(p, { problem: { reason: 'NameConflict', message: err.message } }, log);
      } else if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
        // The API server refused what we rendered: tell the user (an object of the same name owned by
        // another controller, a quota, an admission webhook), then retry with backoff.
        await this.status.write(
          p,
          { problem: { reason: 'ApplyFailed', message: `${err.message}; the operator retries with backoff` } },
          log,
        );
      }
      throw err;
    } finally {
      this.report(p, results, log);
    }
  }

  /** A metric for every apply, a log line for every change, and an Event per kind of change. */
  private report(p: IngestPipeline & KubeObject, results: ApplyResult[], log: Logger): void {
    for (const res of results) {
      this.d.metrics.applies.inc({ kind: res.kind, action: res.action });
      if (res.action === 'Noop') continue;
      const verb = res.action === 'Patched' ? 'updated' : res.action.toLowerCase();
      log.info({ kind: res.kind, child: res.name, action: res.action }, `${res.kind} ${res.name} ${verb}`);
    }
    for (const e of changeEvents(results)) this.d.events.emit(p, 'Normal', e.reason, e.message);
  }

  private liveChildren(ns: string, pipeline: string): KubeObject[] {
    const key = pipelineKey(ns, pipeline);
    return Object.values(this.d.children).flatMap((inf) => inf.byIndex(key));
  }
}

export { CHILD_KINDS };
