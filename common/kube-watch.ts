// One watch of a Kubernetes collection over node:https, for the worker's watch of its own IngestPipeline
// (worker/scale-watch.ts): newline-delimited events in, `done` once the stream ends for any reason. The
// operator has its own client with caches (operator/runtime/); this is the smallest thing that watches.

import { request } from 'node:https';
import type { ApiAuth } from './kube-auth.ts';

export interface WatchStream {
  abort(): void;
}

/** A non-2xx answer to a watch, with the HTTP status (403: the Role does not allow it). */
export class WatchRefused extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.name = 'WatchRefused';
    this.statusCode = statusCode;
  }
}

/**
 * Starts a watch of `path`; `done` is called once, without an error when the server ended the watch
 * (timeoutSeconds), with one otherwise. A stream silent for longer than the server timeout + 30 s (a half-open
 * connection to a vanished API server) ends with an error.
 */
export async function watchCollection<T>(
  auth: ApiAuth,
  path: string,
  query: Record<string, string>,
  onEvent: (type: string, obj: T) => void,
  done: (err?: unknown) => void,
  timeoutSeconds = 300,
): Promise<WatchStream> {
  const url = new URL(path, auth.server);
  for (const [k, v] of Object.entries({ ...query, watch: 'true', timeoutSeconds: String(timeoutSeconds) }))
    url.searchParams.set(k, v);
  const opts = await auth.options();
  let finished = false;
  const finish = (err?: unknown) => {
    if (finished) return;
    finished = true;
    done(err);
  };
  const req = request(
    url,
    { ...opts, method: 'GET', headers: { ...opts.headers, accept: 'application/json' } },
    (res) => {
      const status = res.statusCode ?? 0;
      let buffer = '';
      res.setEncoding('utf8');
      if (status < 200 || status >= 300) {
        res.on('data', (c: string) => {
          buffer += c;
        });
        res.on('end', () => finish(new WatchRefused(status, `watch ${path}: ${status} ${buffer.slice(0, 300)}`)));
        return;
      }
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (!line) continue;
          try {
            const e = JSON.parse(line) as { type: string; object: T };
            onEvent(e.type, e.object);
          } catch (err) {
            req.destroy(err as Error);
            return;
          }
        }
      });
      res.on('end', () => finish());
      res.on('error', finish);
    },
  );
  req.setTimeout((timeoutSeconds + 30) * 1000, () => req.destroy(new Error(`watch ${path}: silent; restarting it`)));
  req.on('error', finish);
  req.end();
  return {
    abort() {
      finished = true;
      req.destroy();
    },
  };
}
