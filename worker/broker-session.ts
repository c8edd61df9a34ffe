// Decisions about the worker's broker session that brokers other than Mosquitto made necessary (issue #13,
// docs/brokers.md): which packet id a SUBSCRIBE may use, what a refused one means, when a CONNACK without
// the session means a lost one, and when a failed first connection is worth waiting for.

import type { ISubackPacket } from 'mqtt-packet';
import { BrokerError, subackRefusal } from './broker-errors.ts';

/** How many packet ids a SUBSCRIBE tries before the connection attempt fails (and is retried). */
export const SUBSCRIBE_ATTEMPTS = 8;

/**
 * A packet id for the worker's SUBSCRIBE (or UNSUBSCRIBE). The spec keeps the two directions' ids apart,
 * but Comqtt and Mochi refuse one that their own outgoing in-flight messages hold (0x91), and a resumed
 * session holds ids from 1 up at once. So: from the top of the id space down, skipping the ids of
 * messages received and not yet acknowledged on this connection and those already refused.
 */
export function subscribePacketId(avoid: (id: number) => boolean): number {
  for (let id = 65535; id > 0; id--) if (!avoid(id)) return id;
  return 65535; // every id in use: impossible with a Receive Maximum below 65535; the broker will say
}

export type SubackOutcome = { kind: 'granted' } | { kind: 'retry' } | { kind: 'refused'; error: BrokerError };

/**
 * What a SUBACK means for the `attempt`-th SUBSCRIBE (1-based): granted; a packet id in use (0x91), worth
 * another id; or a refusal. A broker that keeps refusing ids is no ACL problem: the connection is retried.
 */
export function subackOutcome(packet: ISubackPacket, subscriptions: string | string[], attempt: number): SubackOutcome {
  const refused = subackRefusal(packet, subscriptions);
  const subscription = typeof subscriptions === 'string' ? subscriptions : subscriptions.join(', ');
  if (!refused) return { kind: 'granted' };
  if (refused.permanent) return { kind: 'refused', error: refused };
  if (attempt < SUBSCRIBE_ATTEMPTS) return { kind: 'retry' };
  return {
    kind: 'refused',
    error: new BrokerError(
      `broker refused the subscription ${subscription} ${attempt} times with reason 0x91 (packet identifier in use), each time with another id; reconnecting`,
      false,
    ),
  };
}

/** What the worker knows about its broker session across the reconnects of one process. */
export class SessionWatch {
  private hadSession = false;
  private disconnectedAt = 0;
  /** Reconnects on which the broker no longer had the session the worker asked it to keep. */
  lost = 0;
  lastLostAt: number | undefined;
  private readonly protocolVersion: 4 | 5;
  private readonly sessionExpirySeconds: number;

  constructor(o: { protocolVersion: 4 | 5; sessionExpirySeconds: number }) {
    this.protocolVersion = o.protocolVersion;
    this.sessionExpirySeconds = o.sessionExpirySeconds;
  }

  disconnected(now = Date.now()): void {
    this.disconnectedAt = now;
  }

  /**
   * A subscribed connection: undefined, or what to log when the broker lost the session. Lost means the
   * worker asked to keep it (MQTT 3.1.1 clean=false always does; MQTT 5 with a Session Expiry above 0) and
   * had one before in this process: a first connection cannot tell a lost session from a first start.
   */
  subscribed(
    sessionPresent: boolean,
    now = Date.now(),
  ): { disconnectedForMs: number; expiredBySetting: boolean } | undefined {
    const persistent = this.protocolVersion === 4 || this.sessionExpirySeconds > 0;
    const lost = persistent && this.hadSession && !sessionPresent;
    this.hadSession = true;
    if (!lost) return undefined;
    this.lost++;
    this.lastLostAt = now;
    const disconnectedForMs = now - this.disconnectedAt;
    return {
      disconnectedForMs,
      expiredBySetting: this.protocolVersion === 5 && disconnectedForMs > this.sessionExpirySeconds * 1000,
    };
  }

  /** A line for the readiness detail once the broker has lost this worker's session (else empty). */
  note(): string {
    if (this.lost === 0 || this.lastLostAt === undefined) return '';
    const times = this.lost === 1 ? 'time' : 'times';
    return `broker session lost ${this.lost} ${times}, last at ${new Date(this.lastLostAt).toISOString()}: messages the broker held for this worker may be lost upstream (docs/brokers.md)\n`;
  }
}

export const SESSION_LOST_MESSAGE =
  'broker session was lost: the broker no longer had the session this worker asked it to keep (it restarted without persistence, failed over to a node without the session, or expired it); messages the broker held for this worker while it was disconnected may be lost upstream (docs/brokers.md)';

/**
 * The broker's in-flight window on one connection: ids of QoS 1 messages received and not yet acknowledged.
 * `add` says whether the message is beyond the Receive Maximum the worker asked for (a broker ignoring it).
 */
export class InflightWindow {
  private readonly ids = new Set<number>();
  private readonly receiveMaximum: number;
  constructor(receiveMaximum: number) {
    this.receiveMaximum = receiveMaximum;
  }
  add(id: number): boolean {
    const beyond = this.ids.size >= this.receiveMaximum && !this.ids.has(id);
    this.ids.add(id);
    return beyond;
  }
  delete(id: number): void {
    this.ids.delete(id);
  }
  has(id: number): boolean {
    return this.ids.has(id);
  }
  get size(): number {
    return this.ids.size;
  }
}

/**
 * Whether the first connection should wait and try again after every broker failed: only when a broker
 * accepted the TCP connection and was too slow to answer (a live broker resuming a session with a large
 * backlog). Refused credentials or subscriptions, and addresses nobody listens on, fail the startup.
 */
export function waitForSlowBroker(errors: readonly BrokerError[]): boolean {
  return errors.some((e) => e.slow) && !errors.some((e) => e.permanent);
}

/**
 * The Session Expiry the broker granted when it is shorter than the one the worker asked for (MQTT 5 lets
 * a CONNACK lower it; Mochi and Comqtt cap it at their maximum-session-expiry-interval, EMQX at its own):
 * the session, and the messages it holds, then vanish sooner than source.sessionExpiry says.
 */
export function shortenedSessionExpiry(asked: number, granted: number | undefined): number | undefined {
  return granted !== undefined && granted < asked ? granted : undefined;
}
