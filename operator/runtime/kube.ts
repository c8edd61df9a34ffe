// Requests and watches against the Kubernetes API. Credentials and TLS come from common/kube-auth.ts; the
// requests go out on node:https because a controller needs what a generated client does not expose for
// arbitrary kinds: the apply-patch content type of server-side apply on any resource and subresource,
// metadata-only lists and watches (so Secret values are never held in the operator's caches), and streaming
// watches with an inactivity timeout it controls.

import { Agent, type RequestOptions, request } from 'node:https';
import { type ApiAuth, defaultAuth } from '../../common/kube-auth.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    deletionTimestamp?: string;
    finalizers?: string[];
    creationTimestamp?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeList<T extends KubeObject = KubeObject> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** A non-2xx answer of the API server, with its Status reason (NotFound, Conflict, Gone, Invalid...). */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly reason: string;
  readonly body: unknown;
  constructor(status: number, reason: string, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.body = body;
  }
}

export const isNotFound = (err: unknown) => err instanceof ApiError && err.status === 404;
export const isConflict = (err: unknown) => err instanceof ApiError && err.status === 409;
export const isGone = (err: unknown) => err instanceof ApiError && err.status === 410;

export const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
export const METADATA_ONLY_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

export interface RequestArgs {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  accept?: string;
  timeoutMs?: number;
  /** Aborts the request (it rejects with an AbortError), e.g. when a deadline passes while it waits. */
  signal?: AbortSignal;
}

export interface WatchHandle {
  /** Settles when the stream ends: normally (server timeout), by abort, or with an error. */
  done: Promise<void>;
  abort(): void;
}

export class KubeClient {
  readonly server: URL;
  private readonly auth: ApiAuth;
  private readonly agent: Agent;
  /** Called once per request sent (verb: GET, PATCH, ..., WATCH): the operator counts them in its metrics. */
  onRequest?: (verb: string) => void;

  constructor(auth: ApiAuth) {
    this.auth = auth;
    this.server = auth.server;
    // Watches hold one socket each for minutes (15 per watched namespace); requests reuse the rest.
    this.agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 32 });
  }

  /** KUBECONFIG, else ~/.kube/config, else the pod's service account. */
  static async fromDefault(): Promise<KubeClient> {
    return new KubeClient(await defaultAuth());
  }

  close(): void {
    this.agent.destroy();
  }

  private authOptions(): Promise<RequestOptions> {
    return this.auth.options();
  }

  private async options(method: string, path: string, args: RequestArgs): Promise<RequestOptions> {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(args.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const auth = await this.authOptions();
    const headers: Record<string, string> = {
      ...(auth.headers as Record<string, string> | undefined),
      accept: args.accept ?? 'application/json',
      'user-agent': 'mqtt2pg-operator',
    };
    if (args.body !== undefined) headers['content-type'] = args.contentType ?? 'application/json';
    return {
      ...auth,
      agent: this.agent,
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers,
    };
  }

  async request<T = unknown>(method: string, path: string, args: RequestArgs = {}): Promise<T> {
    const opts = await this.options(method, path, args);
    this.onRequest?.(method);
    const payload =
      args.body === undefined ? undefined : typeof args.body === 'string' ? args.body : JSON.stringify(args.body);
    // Node frames a body of a DELETE (or GET) neither by length nor chunked unless told its length: the API
    // server would ignore the DeleteOptions and read them as the start of the next request on the connection.
    if (payload !== undefined) opts.headers = { ...opts.headers, 'content-length': String(Buffer.byteLength(payload)) };
    return new Promise<T>((resolve, reject) => {
      const req = request(args.signal ? { ...opts, signal: args.signal } : opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {}
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(body as T);
          else reject(apiError(status, method, path, body));
        });
      });
      req.setTimeout(args.timeoutMs ?? 30_000, () => {
        req.destroy(
          new Error(`${method} ${path}: no answer from the API server within ${args.timeoutMs ?? 30_000} ms`),
        );
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * Streams watch events. `idleTimeoutMs` ends the stream when nothing (not even a bookmark) arrived for that
   * long: a half-open TCP connection to a restarted API server otherwise waits forever.
   */
  async watch<T extends KubeObject>(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    onEvent: (e: WatchEvent<T>) => void,
    { accept, idleTimeoutMs }: { accept?: string; idleTimeoutMs: number },
  ): Promise<WatchHandle> {
    const opts = await this.options('GET', path, { query: { ...query, watch: true }, ...(accept ? { accept } : {}) });
    this.onRequest?.('WATCH');
    let abort: () => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      const req = request(opts, (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let body: unknown;
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {}
            reject(apiError(status, 'WATCH', path, body));
          });
          res.on('error', reject);
          return;
        }
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let nl = buffer.indexOf('\n');
          while (nl >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            nl = buffer.indexOf('\n');
            if (!line) continue;
            let event: WatchEvent<T>;
            try {
              event = JSON.parse(line) as WatchEvent<T>;
            } catch (err) {
              req.destroy(new Error(`watch ${path}: undecodable event: ${(err as Error).message}`));
              return;
            }
            onEvent(event);
          }
        });
        res.on('end', () => resolve());
        res.on('close', () => resolve());
        res.on('error', (err) => reject(err));
      });
      req.setTimeout(idleTimeoutMs, () => {
        req.destroy(new WatchIdleError(`watch ${path}: no event for ${idleTimeoutMs} ms; restarting it`));
      });
      req.on('error', (err) => reject(err));
      abort = () => {
        req.destroy();
        resolve();
      };
      req.end();
    });
    return { done, abort: () => abort() };
  }
}

export class WatchIdleError extends Error {
  override name = 'WatchIdleError';
}

function apiError(status: number, method: string, path: string, body: unknown): ApiError {
  const b = body as { reason?: string; message?: string } | undefined;
  const reason = b?.reason ?? (status === 404 ? 'NotFound' : status === 410 ? 'Gone' : `HTTP${status}`);
  // A body that is not a Status (a proxy's, or a plain-text refusal) is the only clue there is: keep its start.
  const detail = b?.message ?? (typeof body === 'string' && body ? body.slice(0, 300) : undefined);
  const message = `${method} ${path}: ${status} ${reason}${detail ? `: ${detail}` : ''}`;
  return new ApiError(status, reason, message, body);
}

// ---------------------------------------------------------------------------------------------------------
// Resource paths

export interface ResourceType {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const apiVersionOf = (r: ResourceType) => (r.group ? `${r.group}/${r.version}` : r.version);

export function collectionPath(r: ResourceType, namespace?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return r.namespaced && namespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

export const objectPath = (r: ResourceType, namespace: string | undefined, name: string) =>
  `${collectionPath(r, namespace)}/${encodeURIComponent(name)}`;

export const keyOf = (o: { metadata: { namespace?: string; name: string } }) =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
