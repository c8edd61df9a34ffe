// Events on the IngestPipeline for every change the operator makes or sees (children created, updated,
// deleted; conditions turning), so `kubectl describe ingp` tells the story. An Event that fails to post is
// logged and dropped: it must never fail a reconcile.

import { randomBytes } from 'node:crypto';
import type { IngestPipeline } from '../api/types.ts';
import type { KubeClient } from './runtime/kube.ts';
import { isoSeconds } from './status.ts';

export interface EventSink {
  emit(p: IngestPipeline, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

export class EventRecorder implements EventSink {
  private readonly client: KubeClient;
  private readonly instance: string;
  private readonly onError: (err: unknown) => void;

  constructor(client: KubeClient, instance: string, onError: (err: unknown) => void) {
    this.client = client;
    this.instance = instance;
    this.onError = onError;
  }

  emit(p: IngestPipeline, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ns = p.metadata.namespace ?? 'default';
    const now = new Date();
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${p.metadata.name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`,
        namespace: ns,
      },
      involvedObject: {
        apiVersion: p.apiVersion,
        kind: p.kind,
        name: p.metadata.name,
        namespace: ns,
        uid: p.metadata.uid,
        resourceVersion: p.metadata.resourceVersion,
      },
      reason,
      // The API server caps Event messages at 1 KiB.
      message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
      type,
      source: { component: 'mqtt2pg-operator' },
      reportingComponent: 'mqtt2pg-operator',
      reportingInstance: this.instance,
      firstTimestamp: isoSeconds(now),
      lastTimestamp: isoSeconds(now),
      count: 1,
    };
    this.client.request('POST', `/api/v1/namespaces/${ns}/events`, { body: event }).catch(this.onError);
  }
}
