// The operator process: configuration, the HTTP endpoints, leader election, and an orderly shutdown.
// Caches start only once this process leads: a standby costs the API server one Lease read per retry period.

import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { ENV, HTTP_PATHS } from '../api/contract.ts';
import { closeServer, portOf, serve } from '../common/http-server.ts';
import { EventRecorder } from './events.ts';
import { Manager } from './manager.ts';
import { OperatorMetrics } from './metrics.ts';
import { OPERATOR_VERSION } from './render/meta.ts';
import { KubeClient } from './runtime/kube.ts';
import { LeaderElector } from './runtime/leader.ts';

export interface OperatorOptions {
  namespaces: string[];
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  identity?: string;
  concurrency: number;
  resyncMs: number;
  watchTimeoutSeconds?: number;
  /** host:port for /metrics, /healthz and /readyz; port 0 picks a free one (logged). */
  listen: string;
  workerImage?: string;
  pgbouncerImage?: string;
  /** --allowed-images; undefined: the repository of the worker image (operator/image-policy.ts). */
  allowedImages?: string[];
  /** `mqtt2pg drain --timeout` of the drain Jobs. */
  drainTimeout?: string;
  logLevel: string;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) throw new Error(`--listen "${listen}" must be HOST:PORT, e.g. 0.0.0.0:8080 or :8080`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

async function startHttp(listen: string, metrics: OperatorMetrics, ready: () => boolean, log: Logger): Promise<Server> {
  const { host, port } = parseListen(listen);
  const text = (status: number, body: string) => ({ status, body });
  const server = await serve(port, host, {
    [HTTP_PATHS.metrics]: async () => ({
      status: 200,
      body: await metrics.registry.metrics(),
      type: metrics.registry.contentType,
    }),
    [HTTP_PATHS.healthz]: async () => text(200, 'ok\n'),
    [HTTP_PATHS.readyz]: async () => (ready() ? text(200, 'ok\n') : text(503, 'caches not synced\n')),
  });
  log.info({ address: `${host}:${portOf(server)}` }, 'serving /metrics, /healthz, /readyz');
  return server;
}

/** Runs until SIGTERM/SIGINT (exit 0) or a lost Lease (exit 1: the pod restarts and campaigns again). */
export async function runOperator(o: OperatorOptions): Promise<number> {
  const log = pino({ level: o.logLevel, base: { component: 'operator' } });
  const identity = o.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
  const client = await KubeClient.fromDefault();
  const metrics = new OperatorMetrics();
  client.onRequest = (verb) => metrics.apiRequests.inc({ verb });
  const events = new EventRecorder(client, identity, (err) =>
    log.warn({ err: (err as Error).message }, 'could not post an Event'),
  );
  const manager = new Manager(
    client,
    {
      namespaces: o.namespaces,
      concurrency: o.concurrency,
      resyncMs: o.resyncMs,
      ...(o.watchTimeoutSeconds ? { watchTimeoutSeconds: o.watchTimeoutSeconds } : {}),
      render: {
        ...(o.workerImage ? { workerImage: o.workerImage } : {}),
        ...(o.pgbouncerImage ? { pgbouncerImage: o.pgbouncerImage } : {}),
        ...(o.allowedImages ? { allowedImages: o.allowedImages } : {}),
        // The NetworkPolicies let the operator's own pods in: where it runs, else where its Lease is.
        operatorNamespace: process.env[ENV.podNamespace] || o.leaseNamespace,
        ...(o.drainTimeout ? { drainTimeout: o.drainTimeout } : {}),
      },
    },
    { log, metrics, events },
  );
  const elector = o.leaderElect
    ? new LeaderElector(client, {
        namespace: o.leaseNamespace,
        name: o.leaseName,
        identity,
        leaseDurationMs: o.leaseDurationMs,
        renewDeadlineMs: o.renewDeadlineMs,
        retryPeriodMs: o.retryPeriodMs,
        log: (level, msg, fields) => log[level](fields ?? {}, msg),
      })
    : undefined;
  let leading = false;
  // A standby is healthy and ready (it serves its purpose by waiting); a leader once its caches are synced.
  const server = await startHttp(o.listen, metrics, () => !leading || manager.synced, log);
  log.info(
    {
      version: OPERATOR_VERSION,
      identity,
      server: client.server.origin,
      namespaces: o.namespaces.length ? o.namespaces : 'all',
    },
    'mqtt2pg operator starting',
  );

  const stop = new AbortController();
  const onSignal = (sig: string) => {
    log.info({ signal: sig }, 'shutting down');
    stop.abort();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));

  let code = 0;
  try {
    if (elector && !(await elector.acquire(stop.signal))) return 0;
    leading = true;
    metrics.leader.set(1);
    await manager.start();
    if (elector) {
      const why = await elector.hold(stop.signal);
      if (why === 'lost') {
        log.error('lost the leader Lease; stopping so that only the new leader reconciles');
        code = 1;
      }
    } else {
      await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    }
  } finally {
    metrics.leader.set(0);
    await manager.stop();
    if (code === 0) await elector?.release();
    leading = false;
    await closeServer(server);
    client.close();
    log.info('stopped');
  }
  return code;
}
