// Events on the IngestPipeline for every change the operator makes or sees (children created, updated,
// deleted; conditions turning), so `kubectl describe ingp` tells the story. The same Event again (same
// object, type, reason and message) within AGGREGATE_MS is counted on the Event already posted (count and
// lastTimestamp, as client-go's correlator does: `kubectl describe` shows "x3 over 5m") rather than posted
// anew, so a flapping dependency or a repeated refusal does not flood the namespace. An Event that fails to
// post is logged and dropped: it must never fail a reconcile.

import { randomBytes } from 'node:crypto';
import type { IngestPipeline } from '../api/types.ts';
import { isNotFound, type KubeClient } from './runtime/kube.ts';
import { isoSeconds } from './status.ts';

export interface EventSink {
  emit(p: IngestPipeline, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** How long an Event keeps counting repeats (the API server keeps Events for an hour by default). */
export const AGGREGATE_MS = 30 * 60_000;
/** Events remembered for counting; the oldest is forgotten beyond it. */
const MAX_REMEMBERED = 4096;

interface Posted {
  name: string;
  namespace: string;
  count: number;
  lastMs: number;
  /** The post (or the last count update) in flight: the next update waits for it. */
  write: Promise<unknown>;
}

export class EventRecorder implements EventSink {
  private readonly client: KubeClient;
  private readonly instance: string;
  private readonly onError: (err: unknown) => void;
  private readonly posted = new Map<string, Posted>();

  constructor(client: KubeClient, instance: string, onError: (err: unknown) => void) {
    this.client = client;
    this.instance = instance;
    this.onError = onError;
  }

  emit(p: IngestPipeline, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ns = p.metadata.namespace ?? 'default';
    const text = message.length > 1024 ? `${message.slice(0, 1021)}...` : message; // the API server's cap
    const key = JSON.stringify([ns, p.metadata.name, p.metadata.uid, type, reason, text]);
    const now = Date.now();
    const seen = this.posted.get(key);
    if (seen && now - seen.lastMs < AGGREGATE_MS) {
      seen.count++;
      seen.lastMs = now;
      const count = seen.count;
      seen.write = seen.write.then(() =>
        this.client
          .request('PATCH', `/api/v1/namespaces/${ns}/events/${seen.name}`, {
            body: { count, lastTimestamp: isoSeconds(new Date(now)) },
            contentType: 'application/merge-patch+json',
          })
          .catch((err: unknown) => {
            // Expired (the API server's Event TTL) or deleted: post it anew.
            this.posted.delete(key);
            if (isNotFound(err)) this.emit(p, type, reason, message);
            else this.onError(err);
          }),
      );
      return;
    }
    const name = `${p.metadata.name}.${now.toString(16)}${randomBytes(3).toString('hex')}`;
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: {
        apiVersion: p.apiVersion,
        kind: p.kind,
        name: p.metadata.name,
        namespace: ns,
        uid: p.metadata.uid,
        resourceVersion: p.metadata.resourceVersion,
      },
      reason,
      message: text,
      type,
      source: { component: 'mqtt2pg-operator' },
      reportingComponent: 'mqtt2pg-operator',
      reportingInstance: this.instance,
      firstTimestamp: isoSeconds(new Date(now)),
      lastTimestamp: isoSeconds(new Date(now)),
      count: 1,
    };
    const write = this.client.request('POST', `/api/v1/namespaces/${ns}/events`, { body: event }).catch((err) => {
      this.posted.delete(key);
      this.onError(err);
    });
    this.posted.delete(key);
    this.posted.set(key, { name, namespace: ns, count: 1, lastMs: now, write });
    if (this.posted.size > MAX_REMEMBERED) this.posted.delete(this.posted.keys().next().value as string);
  }
}
