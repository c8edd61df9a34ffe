// List + watch one resource type into an in-memory cache, and tell handlers what changed. Recovers from the
// three ways a watch ends: the server closing it (timeoutSeconds; resume from the last resourceVersion),
// 410 Gone (the resourceVersion was compacted away; relist and diff against the cache so no change is
// missed), and silence (a restarted API server can leave a half-open connection: a client-side inactivity
// timeout, kept above the bookmark interval, ends it and the watch resumes).

import { backoffDelay, sleep } from '../../common/backoff.ts';
import { IndexedStore } from './indexed-store.ts';
import {
  ApiError,
  apiVersionOf,
  collectionPath,
  isGone,
  type KubeClient,
  type KubeList,
  type KubeObject,
  keyOf,
  METADATA_ONLY,
  METADATA_ONLY_LIST,
  type ResourceType,
  type WatchEvent,
} from './kube.ts';

export interface InformerHandlers<T extends KubeObject> {
  onAdd?: (obj: T) => void;
  onUpdate?: (obj: T, old: T) => void;
  onDelete?: (obj: T) => void;
}

export interface InformerOptions {
  /** Omit (or "") for all namespaces. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Cache metadata only (PartialObjectMetadata): for Secrets the operator must notice but not hold. */
  metadataOnly?: boolean;
  /** An object's value in the cache's one index (undefined: not indexed), for `byIndex`. */
  indexBy?: (obj: KubeObject) => string | undefined;
  /** Keeps only what the handlers and readers use of an object, before it is cached (memory at scale). */
  transform?: (obj: KubeObject) => KubeObject;
  /** Server-side watch timeout; randomized per watch by ±20% to spread relists. Default 300 s. */
  watchTimeoutSeconds?: number;
  /** Client-side inactivity limit. Default: watchTimeoutSeconds + 30 s (bookmarks arrive about every minute). */
  idleTimeoutMs?: number;
  pageSize?: number;
  log?: (level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
  onRestart?: (reason: 'expired' | 'idle' | 'error' | 'closed') => void;
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly resource: ResourceType;
  private readonly client: KubeClient;
  private readonly opts: InformerOptions;
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly store: IndexedStore<T>;
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private abort = new AbortController();
  private currentWatch?: { abort(): void };
  private running?: Promise<void>;

  constructor(client: KubeClient, resource: ResourceType, opts: InformerOptions = {}) {
    this.client = client;
    this.resource = resource;
    this.opts = opts;
    this.store = new IndexedStore<T>(opts.indexBy);
  }

  addHandlers(h: InformerHandlers<T>): void {
    this.handlers.push(h);
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  /** The cached objects whose `indexBy` value is `value`. */
  byIndex(value: string): T[] {
    return this.store.byIndex(value);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): void {
    if (this.running) return;
    this.abort = new AbortController();
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.currentWatch?.abort();
    await this.running;
    this.running = undefined;
  }

  /** Makes the next watch start from `rv` (tests use it to provoke 410 Gone with a compacted version). */
  resumeFrom(rv: string): void {
    this.resourceVersion = rv;
  }

  private get path() {
    return collectionPath(this.resource, this.opts.namespace || undefined);
  }

  private get what() {
    const ns = this.opts.namespace ? ` in ${this.opts.namespace}` : '';
    const sel = this.opts.labelSelector ? ` (${this.opts.labelSelector})` : '';
    return `${this.resource.plural}${ns}${sel}`;
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    // A restarted informer resumes its watch where it stopped; the API server answers 410 if it cannot.
    let needList = !this.resourceVersion;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        const reason = await this.watchOnce();
        failures = 0;
        if (reason === 'expired') needList = true;
        if (reason !== 'aborted') this.opts.onRestart?.(reason);
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          needList = true;
          this.opts.onRestart?.('expired');
          continue;
        }
        const delay = backoffDelay(failures++, { initialMs: 200, maxMs: 5_000 });
        this.opts.log?.('warn', `${this.what}: list/watch failed; retrying`, {
          err: err instanceof Error ? err.message : String(err),
          retryInMs: delay,
        });
        this.opts.onRestart?.('error');
        // A watch that failed many times in a row may have lost its place; relist to be sure.
        if (failures > 3) needList = true;
        await sleep(delay, signal);
      }
    }
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const list = await this.client.request<KubeList<T>>('GET', this.path, {
        query: {
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
          limit: this.opts.pageSize ?? 500,
          continue: cont,
        },
        ...(this.opts.metadataOnly ? { accept: `${METADATA_ONLY_LIST},application/json` } : {}),
        timeoutMs: 60_000,
      });
      items.push(...(list.items ?? []));
      cont = list.metadata.continue || undefined;
      rv = list.metadata.resourceVersion ?? '';
    } while (cont);
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      this.upsert(key, item);
    }
    // What vanished while we were not watching (or before a 410) is reported as deleted.
    for (const [key, old] of this.store.entries()) {
      if (!seen.has(key)) {
        this.store.delete(key);
        for (const h of this.handlers) h.onDelete?.(old);
      }
    }
    this.resourceVersion = rv;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private upsert(key: string, raw: T): void {
    // List items carry no kind/apiVersion; watch events do. Give every cached object both.
    if (!this.opts.metadataOnly) {
      raw.kind ??= this.resource.kind;
      raw.apiVersion ??= apiVersionOf(this.resource);
    }
    // managedFields is often the larger half of an object and nothing here reads it.
    delete raw.metadata.managedFields;
    const obj = this.opts.transform ? (this.opts.transform(raw) as T) : raw;
    const old = this.store.get(key);
    if (old?.metadata.resourceVersion === obj.metadata.resourceVersion && old) return;
    this.store.set(key, obj);
    for (const h of this.handlers) {
      if (old) h.onUpdate?.(obj, old);
      else h.onAdd?.(obj);
    }
  }

  /** One watch; resolves with why it ended. Throws on transport errors. */
  private async watchOnce(): Promise<'expired' | 'idle' | 'closed' | 'aborted'> {
    const base = this.opts.watchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.max(1, Math.round(base * (0.8 + Math.random() * 0.4)));
    const idleTimeoutMs = this.opts.idleTimeoutMs ?? (timeoutSeconds + 30) * 1000;
    let expired = false;
    let idle = false;
    const handle = await this.client.watch<T>(
      this.path,
      {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
      },
      (e: WatchEvent<T>) => {
        if (expired) return;
        if (e.type === 'ERROR') {
          const status = e.object as unknown as { code?: number; message?: string };
          if (status.code === 410) expired = true;
          else this.opts.log?.('warn', `${this.what}: watch error event`, { err: status.message });
          handle.abort();
          return;
        }
        const rv = e.object.metadata?.resourceVersion;
        if (e.type === 'BOOKMARK') {
          if (rv) this.resourceVersion = rv;
          return;
        }
        const key = keyOf(e.object);
        if (e.type === 'DELETED') {
          const old = this.store.get(key) ?? e.object;
          this.store.delete(key);
          for (const h of this.handlers) h.onDelete?.(old);
        } else {
          this.upsert(key, e.object);
        }
        if (rv) this.resourceVersion = rv;
      },
      {
        idleTimeoutMs,
        ...(this.opts.metadataOnly ? { accept: `${METADATA_ONLY},application/json` } : {}),
      },
    );
    this.currentWatch = handle;
    // stop() may have run while the watch request was being set up, before there was a handle to abort.
    if (this.abort.signal.aborted) handle.abort();
    try {
      await handle.done;
    } catch (err) {
      if (err instanceof Error && err.name === 'WatchIdleError') idle = true;
      else throw err;
    } finally {
      this.currentWatch = undefined;
    }
    if (this.abort.signal.aborted) return 'aborted';
    if (expired) return 'expired';
    if (idle) {
      this.opts.log?.('info', `${this.what}: watch silent for ${idleTimeoutMs} ms; restarting it`);
      return 'idle';
    }
    return 'closed';
  }
}

/**
 * One informer per watched namespace (or one for the whole cluster), read as one cache. Keys are
 * "namespace/name", as for a single informer.
 */
export class InformerSet<T extends KubeObject = KubeObject> {
  readonly informers: Informer<T>[];
  private readonly byNamespace = new Map<string, Informer<T>>();
  private readonly clusterWide?: Informer<T>;

  constructor(
    client: KubeClient,
    resource: ResourceType,
    namespaces: string[],
    opts: Omit<InformerOptions, 'namespace'> = {},
  ) {
    if (namespaces.length === 0) {
      this.clusterWide = new Informer<T>(client, resource, opts);
      this.informers = [this.clusterWide];
    } else {
      this.informers = namespaces.map((namespace) => {
        const inf = new Informer<T>(client, resource, { ...opts, namespace });
        this.byNamespace.set(namespace, inf);
        return inf;
      });
    }
  }

  addHandlers(h: InformerHandlers<T>): void {
    for (const i of this.informers) i.addHandlers(h);
  }

  get(key: string): T | undefined {
    if (this.clusterWide) return this.clusterWide.get(key);
    return this.byNamespace.get(key.slice(0, key.indexOf('/')))?.get(key);
  }

  list(): T[] {
    return this.informers.flatMap((i) => i.list());
  }

  byIndex(value: string): T[] {
    return this.informers.flatMap((i) => i.byIndex(value));
  }

  get hasSynced(): boolean {
    return this.informers.every((i) => i.hasSynced);
  }

  start(): void {
    for (const i of this.informers) i.start();
  }

  waitForSync(): Promise<void> {
    return Promise.all(this.informers.map((i) => i.waitForSync())).then(() => {});
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}

export { ApiError };
