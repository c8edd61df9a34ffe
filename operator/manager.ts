// Wires the generic runtime to pipelines: which watches feed which keys. The operator watches IngestPipelines,
// its own children (by the managed-by label, nothing else), and Secrets as metadata only (to notice a
// rotation of a referenced Secret without caching every Secret's data).

import type { Logger } from 'pino';
import type { IngestPipeline } from '../api/types.ts';
import { Autoscaler, type AutoscalerOptions, type PodObject } from './autoscale/autoscaler.ts';
import { pipelineOf, slimPod } from './cache-shapes.ts';
import { forceDelete } from './deletion.ts';
import type { Images } from './desired.ts';
import type { EventSink } from './events.ts';
import { CHILD_KINDS, JOBS, PIPELINES, PODS, PVCS, SECRETS } from './kinds.ts';
import type { OperatorMetrics } from './metrics.ts';
import { Reconciler } from './reconcile.ts';
import { MANAGED_SELECTOR, PIPELINE_LABEL } from './render/meta.ts';
import { InformerSet } from './runtime/informer.ts';
import { type KubeClient, type KubeObject, keyOf } from './runtime/kube.ts';
import { WorkQueue } from './runtime/queue.ts';
import { WalDrainer } from './wal-drainer.ts';
import { type WorkerHealthOptions, WorkerHealthPoller } from './worker-health.ts';
import { WorkerPoller, type WorkerPollOptions } from './worker-poll.ts';

export interface ManagerOptions {
  /** Namespaces to watch; empty for all. */
  namespaces: string[];
  concurrency: number;
  resyncMs: number;
  watchTimeoutSeconds?: number;
  render: Images;
  /** Overrides for the autoscaler (tests: where local worker processes and PgBouncer listen). */
  autoscale?: AutoscalerOptions;
  /** Overrides for the worker health poll (tests: a short interval). */
  health?: WorkerHealthOptions;
  /** Overrides for the one poll of the worker pods (tests: where local worker processes listen). */
  workerPoll?: WorkerPollOptions;
}

export class Manager {
  readonly queue: WorkQueue;
  readonly reconciler: Reconciler;
  readonly autoscaler: Autoscaler;
  readonly health: WorkerHealthPoller;
  /** The one loop asking the worker pods, for the health conditions and the autoscaler alike. */
  readonly workerPoll: WorkerPoller;
  private readonly pipelines: InformerSet<IngestPipeline & KubeObject>;
  private readonly children: Record<string, InformerSet>;
  private readonly secretMeta: InformerSet;
  private readonly pods: InformerSet<PodObject>;
  /** Drain Jobs and the workers' WAL volumes (operator/wal-drainer.ts). */
  private readonly jobs: InformerSet;
  private readonly claims: InformerSet;
  private readonly all: Array<Pick<InformerSet, 'start' | 'stop' | 'waitForSync' | 'hasSynced'>>;
  private readonly log: Logger;
  private readonly opts: ManagerOptions;
  private resyncTimer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    client: KubeClient,
    opts: ManagerOptions,
    deps: { log: Logger; metrics: OperatorMetrics; events: EventSink },
  ) {
    this.opts = opts;
    this.log = deps.log;
    const informerOpts = (resource: string) => ({
      ...(opts.watchTimeoutSeconds ? { watchTimeoutSeconds: opts.watchTimeoutSeconds } : {}),
      log: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) =>
        deps.log[level]({ resource, ...fields }, msg),
      onRestart: (reason: string) => deps.metrics.watchRestarts.inc({ resource, reason }),
    });
    this.pipelines = new InformerSet(client, PIPELINES, opts.namespaces, informerOpts(PIPELINES.plural));
    this.children = Object.fromEntries(
      Object.entries(CHILD_KINDS).map(([kind, type]) => [
        kind,
        new InformerSet(client, type, opts.namespaces, {
          ...informerOpts(type.plural),
          labelSelector: MANAGED_SELECTOR,
          indexBy: pipelineOf,
        }),
      ]),
    );
    this.secretMeta = new InformerSet(client, SECRETS, opts.namespaces, {
      ...informerOpts('secrets(metadata)'),
      metadataOnly: true,
    });
    // The pods of pipelines (their templates carry the managed-by label): the autoscaler, the health poll, deletions.
    this.pods = new InformerSet<PodObject>(client, PODS, opts.namespaces, {
      ...informerOpts(PODS.plural),
      labelSelector: MANAGED_SELECTOR,
      indexBy: pipelineOf,
      transform: slimPod,
    });
    this.jobs = new InformerSet(client, JOBS, opts.namespaces, {
      ...informerOpts(JOBS.plural),
      labelSelector: MANAGED_SELECTOR,
      indexBy: pipelineOf,
    });
    this.claims = new InformerSet(client, PVCS, opts.namespaces, {
      ...informerOpts(PVCS.plural),
      labelSelector: MANAGED_SELECTOR,
      indexBy: pipelineOf,
    });
    this.all = [this.pipelines, ...Object.values(this.children), this.secretMeta, this.pods, this.jobs, this.claims];
    this.queue = new WorkQueue(
      { initialMs: 500, maxMs: 5 * 60_000 },
      {
        onDepth: (n) => deps.metrics.queueDepth.set(n),
        onError: (key, err, retryInMs) => {
          const [namespace, name] = key.split('/');
          deps.log.warn({ namespace, name, err: (err as Error).message, retryInMs }, 'reconcile failed; retrying');
        },
      },
    );
    this.health = new WorkerHealthPoller({ changed: (key) => this.queue.add(key) }, opts.health);
    this.reconciler = new Reconciler({
      health: this.health,
      client,
      pipelines: this.pipelines,
      children: this.children,
      secretMeta: this.secretMeta,
      pods: this.pods,
      drainer: new WalDrainer({
        client,
        jobs: this.jobs,
        claims: this.claims,
        pods: this.pods,
        events: deps.events,
        ...(opts.render.workerImage ? { workerImage: opts.render.workerImage } : {}),
        ...(opts.render.allowedImages ? { allowedImages: opts.render.allowedImages } : {}),
        ...(opts.render.drainTimeout ? { drainTimeout: opts.render.drainTimeout } : {}),
      }),
      events: deps.events,
      metrics: deps.metrics,
      log: deps.log,
      render: opts.render,
    });

    this.autoscaler = new Autoscaler(
      {
        client,
        pipelines: this.pipelines,
        pods: this.pods,
        readSecret: (ns, name) => this.reconciler.readSecret(ns, name),
        events: deps.events,
        log: deps.log.child({ loop: 'autoscaler' }),
        onDecision: (decision, direction) => deps.metrics.autoscalerDecisions.inc({ decision, direction }),
      },
      opts.autoscale,
    );
    this.workerPoll = new WorkerPoller(
      { pipelines: this.pipelines, pods: this.pods, log: deps.log.child({ loop: 'worker-poll' }) },
      opts.workerPoll,
    );
    this.workerPoll.add(this.health);
    this.workerPoll.add(this.autoscaler);

    this.pipelines.addHandlers({
      onAdd: (p) => this.queue.add(keyOf(p)),
      // Our own status writes come back as updates: only a new generation (spec change), metadata that the
      // render uses, or a deletion needs a reconcile. Status the autoscaler writes changes sizes, too.
      onUpdate: (p, old) => {
        if (
          p.metadata.generation !== old.metadata.generation ||
          p.metadata.deletionTimestamp !== old.metadata.deletionTimestamp ||
          p.metadata.uid !== old.metadata.uid ||
          forceDelete(p) !== forceDelete(old) ||
          JSON.stringify(p.status?.autoscaling?.current) !== JSON.stringify(old.status?.autoscaling?.current)
        ) {
          this.queue.add(keyOf(p));
        }
      },
      onDelete: (p) => {
        this.queue.add(keyOf(p));
      },
    });
    const owner = (o: KubeObject) => {
      const pipeline = o.metadata.labels?.[PIPELINE_LABEL];
      if (pipeline && o.metadata.namespace) this.queue.add(`${o.metadata.namespace}/${pipeline}`);
    };
    for (const inf of Object.values(this.children)) {
      inf.addHandlers({ onAdd: owner, onUpdate: owner, onDelete: owner });
    }
    // A pipeline being deleted waits for its last worker pod to go (operator/deletion.ts); a WAL drain waits
    // for a removed worker's pod to go and reads its Jobs' pods' termination messages.
    const drainPod = (o: KubeObject) => {
      if (o.metadata.labels?.['app.kubernetes.io/component'] === 'drain') owner(o);
    };
    this.pods.addHandlers({ onDelete: owner, onUpdate: drainPod });
    for (const inf of [this.jobs, this.claims]) inf.addHandlers({ onAdd: owner, onUpdate: owner, onDelete: owner });
    const secretChanged = (s: KubeObject) => {
      for (const key of this.reconciler.pipelinesUsingSecret(keyOf(s))) this.queue.add(key);
    };
    this.secretMeta.addHandlers({
      onAdd: secretChanged,
      onUpdate: secretChanged,
      onDelete: (s) => {
        this.reconciler.forgetSecret(keyOf(s));
        secretChanged(s);
      },
    });
  }

  get synced(): boolean {
    return this.all.every((i) => i.hasSynced);
  }

  /** Starts the watches, waits for the caches, then reconciles until stop(). */
  async start(): Promise<void> {
    const t0 = Date.now();
    for (const inf of this.all) inf.start();
    await Promise.all(this.all.map((i) => i.waitForSync()));
    this.log.info(
      {
        ms: Date.now() - t0,
        pipelines: this.pipelines.list().length,
        namespaces: this.opts.namespaces.length ? this.opts.namespaces : 'all',
      },
      'caches synced; reconciling',
    );
    this.resyncTimer = setInterval(() => {
      for (const p of this.pipelines.list()) this.queue.add(keyOf(p));
    }, this.opts.resyncMs);
    this.running = this.queue.run((key) => this.reconciler.reconcile(key), this.opts.concurrency);
    this.workerPoll.start();
  }

  async stop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    // The poll first: a pass still in flight may start an autoscaling round, which the autoscaler then awaits.
    await this.workerPoll.stop();
    await this.autoscaler.stop();
    this.queue.shutdown();
    await this.running;
    await Promise.all(this.all.map((i) => i.stop()));
  }
}
