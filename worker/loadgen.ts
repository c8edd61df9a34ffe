// Synthetic device traffic: contract topics (and, on request, contract violations), JSON payloads that each
// carry a unique id so a test can prove where every message ended up.

import { randomBytes, randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';

export interface LoadgenOptions {
  url: string;
  username?: string;
  password?: string;
  /** Messages per second across all connections; 0 = as fast as the broker acknowledges. */
  rate: number;
  durationMs?: number;
  count?: number;
  devices: number;
  tenants: number;
  qos: 0 | 1;
  payloadBytes: number;
  malformedRatio: number;
  connections: number;
  /** Unacknowledged QoS 1 publishes per connection. */
  inflight: number;
  protocolVersion: 4 | 5;
  runId: string;
  /** Topic level(s) after evt/, e.g. "bench": topics t/{tenant}/d/{device}/evt/bench/{n % 4}. */
  pathPrefix: string;
  /** Builds message n instead of the device contract's (another topic layout, e.g. a route's); default makeMessage. */
  message?: (n: number, deviceIds: string[]) => CustomMessage;
  onProgress?: (p: LoadgenProgress) => void;
  /** Ends the run early: publishes not yet acknowledged are given up, the connections closed at once. */
  signal?: AbortSignal;
}

export interface CustomMessage {
  topic: string;
  payload: string;
  userProperties?: Record<string, string>;
}

export interface LoadgenProgress {
  sent: number;
  acked: number;
  errors: number;
  elapsedMs: number;
}

export interface LoadgenSummary extends LoadgenProgress {
  runId: string;
  rate: number;
  malformed: number;
  qos: 0 | 1;
  firstError?: string;
}

/** The id carried by message n of a run: what tests look up in the tables and the DLQ. */
export const messageId = (runId: string, n: number) => `${runId}-${n}`;

const MALFORMED_KINDS = ['bad_tenant', 'bad_device_id', 'topic_too_long', 'invalid_json'] as const;

export function makeMessage(
  o: Pick<LoadgenOptions, 'runId' | 'devices' | 'tenants' | 'payloadBytes' | 'malformedRatio' | 'pathPrefix'>,
  n: number,
  deviceIds: string[],
  random = Math.random,
) {
  const device = deviceIds[n % deviceIds.length] as string;
  const tenant = `tenant-${n % o.tenants}`;
  const id = messageId(o.runId, n);
  const body = { id, run: o.runId, seq: n, ts: Date.now(), v: Math.round(random() * 10_000) / 100, pad: '' };
  const bare = JSON.stringify(body).length;
  body.pad = 'x'.repeat(Math.max(0, o.payloadBytes - bare));
  let topic = `t/${tenant}/d/${device}/evt/${o.pathPrefix}/${n % 4}`;
  let payload = JSON.stringify(body);
  let malformed: (typeof MALFORMED_KINDS)[number] | undefined;
  if (o.malformedRatio > 0 && random() < o.malformedRatio) {
    malformed = MALFORMED_KINDS[n % MALFORMED_KINDS.length];
    if (malformed === 'bad_tenant') topic = `t/bad tenant!/d/${device}/evt/${o.pathPrefix}/x`;
    else if (malformed === 'bad_device_id') topic = `t/${tenant}/d/not-a-uuid/evt/${o.pathPrefix}/x`;
    else if (malformed === 'topic_too_long') topic = `t/${tenant}/d/${device}/evt/${o.pathPrefix}/${'x'.repeat(1024)}`;
    else payload = `not json ${id}`;
  }
  return { topic, payload, malformed };
}

export async function runLoadgen(o: LoadgenOptions): Promise<LoadgenSummary> {
  const deviceIds = Array.from({ length: o.devices }, () => randomUUID());
  const total = o.count ?? Number.POSITIVE_INFINITY;
  const endAt = o.durationMs !== undefined ? Date.now() + o.durationMs : Number.POSITIVE_INFINITY;
  const clients: MqttClient[] = [];
  for (let i = 0; i < o.connections; i++) {
    clients.push(
      await mqtt.connectAsync(o.url, {
        protocolVersion: o.protocolVersion,
        clientId: `mqtt2pg-loadgen-${o.runId}-${i}-${randomBytes(2).toString('hex')}`,
        ...(o.username !== undefined ? { username: o.username } : {}),
        ...(o.password !== undefined ? { password: o.password } : {}),
        reconnectPeriod: 1000,
        clean: true,
      }),
    );
  }
  const started = Date.now();
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let malformed = 0;
  let firstError: string | undefined;
  const progress = () => ({ sent, acked, errors, elapsedMs: Date.now() - started });
  const ticker = o.onProgress ? setInterval(() => o.onProgress?.(progress()), 1000) : undefined;

  const worker = async (client: MqttClient, share: number) => {
    let inflight = 0;
    let wake: (() => void) | undefined;
    const slot = () => new Promise<void>((r) => (wake = r));
    const aborted = () => o.signal?.aborted === true;
    o.signal?.addEventListener('abort', () => wake?.(), { once: true });
    for (;;) {
      const n = sent;
      if (n >= total || Date.now() >= endAt || aborted()) break;
      if (o.rate > 0) {
        // Pace against the schedule rather than sleeping a fixed gap, so timer jitter does not drift the rate.
        const due = started + (n / o.rate) * 1000;
        const wait = due - Date.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
      while (inflight >= o.inflight && !aborted()) await slot();
      if (sent >= total || aborted()) break;
      sent++;
      const m: CustomMessage & { malformed?: string } = o.message
        ? o.message(n, deviceIds)
        : makeMessage(o, n, deviceIds);
      if (m.malformed) malformed++;
      inflight++;
      const props = m.userProperties ? { properties: { userProperties: m.userProperties } } : {};
      client.publish(m.topic, m.payload, { qos: o.qos, ...props }, (err) => {
        inflight--;
        if (err) {
          errors++;
          firstError ??= err.message;
        } else acked++;
        const w = wake;
        wake = undefined;
        w?.();
      });
      // Yield now and then so acks and progress get processed at full speed.
      if (n % 256 === share) await new Promise((r) => setImmediate(r));
    }
    while (inflight > 0 && !aborted()) await slot();
  };
  await Promise.all(clients.map((c, i) => worker(c, i)));
  if (ticker) clearInterval(ticker);
  await Promise.all(clients.map((c) => c.endAsync(o.signal?.aborted === true)));
  const elapsedMs = Date.now() - started;
  return {
    runId: o.runId,
    sent,
    acked,
    errors,
    elapsedMs,
    rate: Math.round((acked / Math.max(1, elapsedMs)) * 1000),
    malformed,
    qos: o.qos,
    ...(firstError ? { firstError } : {}),
  };
}
