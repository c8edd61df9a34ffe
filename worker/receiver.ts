// The receive path: an MQTT 5 (or 3.1.1) subscriber on mqtt-packet, the parser MQTT.js itself uses.
//
// Why not MQTT.js: it parses the next incoming packet only after the previous QoS 1 message's PUBACK is
// written, so holding PUBACK until the WAL fsync would serialize the connection to one message per fsync.
// Here the socket keeps being read while PUBACKs wait for their group commit; they are sent in receive
// order as each group becomes durable. The broker's in-flight window is our Receive Maximum.

import { EventEmitter } from 'node:events';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { Backoff } from '../common/backoff.ts';
import type { MqttClientOptions } from '../common/client-options.ts';
import type { Logger } from '../common/logger.ts';
import { type Connection, disconnectPacket, queuePuback, sendPacket, startKeepalive } from './broker-connection.ts';
import type { BrokerError } from './broker-errors.ts';
import { connectAndSubscribe } from './broker-handshake.ts';
import { SESSION_LOST_MESSAGE, SessionWatch, subscribePacketId, waitForSlowBroker } from './broker-session.ts';
import type { InboundMessage } from './message.ts';
import type { WorkerMetrics } from './metrics.ts';
import type { Wal } from './wal.ts';

export class Receiver extends EventEmitter {
  private readonly opts: MqttClientOptions;
  private get subscriptions(): string[] {
    return this.opts.subscriptions ?? [this.opts.subscription];
  }
  private readonly wal: Wal;
  private readonly metrics: WorkerMetrics;
  private readonly log: Logger;
  private conn: Connection | undefined;
  private stopping = false;
  private paused = false;
  /** spec.paused (worker/pause.ts): reading stops as for backpressure, the connection and session stay. */
  private held = false;
  /** Why the last connection attempt failed, while not connected (the health report's broker detail). */
  lastError: string | undefined;
  private brokerIndex = 0;
  private readonly reconnectBackoff = new Backoff({ initialMs: 500, maxMs: 30_000, jitter: 0.5 });
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Ending the session on stop: still taking in what the broker had sent before it saw the UNSUBSCRIBE. */
  private acceptingDuringStop = false;
  private lastPublishAt = 0;
  connected = false;
  readonly session: SessionWatch;
  private readonly receivedQos0;
  private readonly receivedQos1;

  constructor(opts: MqttClientOptions, wal: Wal, metrics: WorkerMetrics, log: Logger) {
    super();
    this.opts = opts;
    this.wal = wal;
    this.metrics = metrics;
    this.log = log;
    this.session = new SessionWatch(opts);
    this.receivedQos0 = metrics.received.labels('0');
    this.receivedQos1 = metrics.received.labels('1');
    wal.on('committed', () => this.maybeResume());
    // The WAL volume low on free space (wal-volume.ts): stop reading at once, not at the next message.
    wal.on('volumeLow', () => {
      if (!this.paused) this.pause();
    });
    wal.on('volumeOk', () => this.maybeResume());
    if (wal.full) this.pause(); // a full WAL or volume at start: read nothing until there is room
  }

  /**
   * First connection: fails fast (rejects) on a wrong address, credentials or a refused subscription; a
   * broker that accepts the connection but is slow to answer is waited for, with backoff.
   */
  async start(): Promise<{ sessionPresent: boolean }> {
    for (;;) {
      const errors: BrokerError[] = [];
      for (let i = 0; i < this.opts.brokers.length; i++) {
        this.brokerIndex = i;
        try {
          return await this.connect();
        } catch (err) {
          if ((err as BrokerError).permanent) throw err;
          errors.push(err as BrokerError);
        }
      }
      if (!waitForSlowBroker(errors) || this.stopping) throw errors.at(-1) ?? new Error('no broker configured');
      const delay = this.reconnectBackoff.next();
      for (const e of errors) this.log.warn({ err: e.message, retryInMs: delay }, 'waiting for the broker');
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  private url(): URL {
    return new URL(this.opts.brokers[this.brokerIndex % this.opts.brokers.length] as string);
  }

  private connect(): Promise<{ sessionPresent: boolean }> {
    return connectAndSubscribe(this.opts, this.url(), this.subscriptions, this.log, {
      onPublish: (conn, packet) => this.onPublish(conn, packet),
      onRunning: (conn, where, sessionPresent) => this.onRunning(conn, where, sessionPresent),
      onConnectionLost: (conn, where) => this.onConnectionLost(conn, where),
    });
  }

  private onRunning(conn: Connection, where: string, sessionPresent: boolean) {
    this.conn = conn;
    this.connected = true;
    this.lastError = undefined;
    this.reconnectBackoff.reset();
    this.metrics.connected.set(1);
    const lost = this.session.subscribed(sessionPresent);
    if (lost) {
      this.metrics.sessionLost.inc();
      const { clientId, sessionExpirySeconds } = this.opts;
      this.log.error({ broker: where, clientId, sessionExpirySeconds, ...lost }, SESSION_LOST_MESSAGE);
    }
    this.log.info(
      { broker: where, clientId: this.opts.clientId, subscriptions: this.subscriptions, sessionPresent },
      'subscribed',
    );
    // While paused for backpressure nothing is read, PINGRESP included: silence is then expected.
    startKeepalive(conn, this.opts.keepaliveSeconds * 1000, this.opts.protocolVersion, {
      silenceExpected: () => this.paused || this.held,
      onSilent: () =>
        this.log.warn({ broker: where }, 'no packet from the broker for two keepalive periods; reconnecting'),
    });
    if (this.paused || this.held) conn.socket.pause();
    this.emit('connected');
  }

  private onPublish(conn: Connection, packet: IPublishPacket) {
    // Stopping: neither appended nor acknowledged, so the broker keeps it in the session and redelivers it;
    // unless the session ends with this worker, which then takes in what the broker had already sent.
    if (this.stopping && !this.acceptingDuringStop) return;
    const message: InboundMessage = {
      topic: packet.topic,
      // A copy: the parser hands out a view of the socket chunk, which would pin the whole chunk in memory
      // for as long as the message waits in the WAL cache.
      payload: Buffer.from(packet.payload as Buffer),
      receivedAt: Date.now(),
      qos: packet.qos > 0 ? 1 : 0,
      dup: packet.dup,
    };
    const up = packet.properties?.userProperties;
    if (up) message.userProperties = up;
    const contentType = packet.properties?.contentType;
    if (contentType !== undefined) message.contentType = contentType;
    this.lastPublishAt = message.receivedAt;
    if (packet.dup) this.metrics.duplicates.inc();
    if (packet.qos > 0) {
      this.receivedQos1.inc();
      const id = packet.messageId as number;
      this.trackInflight(conn, id);
      this.wal.append(message, () => this.ack(conn, id));
    } else {
      this.receivedQos0.inc();
      this.wal.append(message);
    }
    if (this.wal.full && !this.paused) this.pause();
  }

  /**
   * The broker's in-flight window on this connection. A broker that sends more unacknowledged messages than
   * the Receive Maximum the worker asked for ignores it (docs/brokers.md): counted, and warned once.
   */
  private trackInflight(conn: Connection, id: number) {
    if (conn.inflight.add(id)) {
      this.metrics.receiveMaximumExceeded.inc();
      if (!conn.windowWarned && this.opts.protocolVersion === 5) {
        conn.windowWarned = true;
        this.log.warn(
          { receiveMaximum: this.opts.receiveMaximum, inflight: conn.inflight.size },
          'the broker sends more unacknowledged messages than the Receive Maximum the worker asked for (source.receiveMaximum); it ignores the limit, see docs/brokers.md',
        );
      }
    }
  }

  /** PUBACK once durable. */
  private ack(conn: Connection, messageId: number) {
    conn.inflight.delete(messageId);
    if (!conn.open) return; // the broker redelivers it on the next session (a counted duplicate)
    queuePuback(conn, messageId);
    this.metrics.acked.inc();
  }

  private send(conn: Connection, packet: Packet) {
    sendPacket(conn, packet, this.opts.protocolVersion);
  }

  private pause() {
    this.paused = true;
    this.metrics.backpressure.set(1);
    this.conn?.socket.pause();
    this.log.warn(
      { walBytes: this.wal.bytes, limit: this.wal.opts.sizeLimitBytes },
      `${this.wal.fullReason}: stopped reading from the broker until flushes free space (the broker holds the messages)`,
    );
  }

  private maybeResume() {
    if (!this.paused || !this.wal.belowResumeMark || this.stopping) return;
    this.paused = false;
    this.metrics.backpressure.set(0);
    if (!this.held) this.conn?.socket.resume();
    this.log.info({ walBytes: this.wal.bytes }, 'WAL below its resume mark: reading from the broker again');
  }

  get backpressured(): boolean {
    return this.paused;
  }

  /** Stops (true) or resumes (false) reading from the broker for spec.paused; see worker/pause.ts. */
  hold(on: boolean): void {
    this.held = on;
    if (on) this.conn?.socket.pause();
    else if (!this.paused) this.conn?.socket.resume();
  }

  /** The broker in use (or tried last), as configured (worker/health-report.ts drops credentials). */
  get brokerUrl(): string {
    return this.url().toString();
  }

  private onConnectionLost(conn: Connection, where: string) {
    if (this.conn === conn) {
      this.conn = undefined;
      this.connected = false;
      this.metrics.connected.set(0);
    }
    this.session.disconnected();
    this.lastError = `lost the connection to ${where}; reconnecting`;
    if (this.stopping) return;
    this.brokerIndex++;
    const delay = this.reconnectBackoff.next();
    this.log.warn(
      { broker: where, retryInMs: delay },
      'lost the broker connection; reconnecting (unacknowledged messages will be redelivered)',
    );
    this.emit('disconnected');
    this.reconnectTimer = setTimeout(() => this.reconnect(), delay);
  }

  private reconnect() {
    if (this.stopping) return;
    this.connect().catch((err: BrokerError) => {
      if (this.stopping) return;
      const delay = this.reconnectBackoff.next();
      this.lastError = err.message;
      this.log.warn({ err: err.message, retryInMs: delay }, 'reconnect failed');
      this.brokerIndex++;
      this.reconnectTimer = setTimeout(() => this.reconnect(), delay);
    });
  }

  /**
   * A worker whose client id never comes back (ENV.identity): leave the shared subscription so the broker
   * routes new messages to the other workers, and take in what it had already sent until the connection is
   * quiet, for at most a few seconds and never past the WAL limit (a paused socket stays paused: the WAL's
   * size is what the volume was sized for). What the broker still holds for this session after that is
   * dropped with the session: the trade-off of an ephemeral identity (docs/reliability.md).
   */
  private async leaveSubscription(conn: Connection, quietMs = 300, maxMs = 5000): Promise<void> {
    this.acceptingDuringStop = true;
    const messageId = subscribePacketId((id) => conn.inflight.has(id));
    this.send(conn, { cmd: 'unsubscribe', messageId, unsubscriptions: this.subscriptions });
    const until = Date.now() + maxMs;
    this.lastPublishAt = Date.now();
    while (conn.open && !this.paused && Date.now() < until && Date.now() - this.lastPublishAt < quietMs) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.acceptingDuringStop = false;
  }

  /** Whether stop() ends the session (see MqttClientOptions.endSessionOnStop); the scale watch may change it. */
  get endsSessionOnStop(): boolean {
    return this.opts.endSessionOnStop === true;
  }

  set endsSessionOnStop(end: boolean) {
    this.opts.endSessionOnStop = end;
  }

  /**
   * Graceful stop: stop reading, so whatever the broker sends from now on stays unacknowledged in the
   * session; make what was taken in durable and acknowledge it; disconnect keeping the session, which a
   * worker under the same client id resumes, receiving what the broker held. The subscription stays too:
   * a shared subscription left without members would drop what devices publish meanwhile. A worker whose
   * client id never comes back (endSessionOnStop) leaves the subscription and ends the session instead.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const conn = this.conn;
    if (this.opts.endSessionOnStop && conn?.open) await this.leaveSubscription(conn);
    conn?.socket.pause();
    await this.wal.settled().catch(() => {});
    await new Promise<void>((resolve) => process.nextTick(resolve)); // the last acks' write
    if (conn?.open) {
      // Session expiry 0 only for a session that ends with this worker: it drops the broker's queue.
      const disconnect = disconnectPacket(this.opts, this.opts.endSessionOnStop === true);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000); // a broker that reads nothing more must not hold the stop
        conn.socket.end(mqttPacket.generate(disconnect, { protocolVersion: this.opts.protocolVersion }), () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    conn?.socket.destroy();
    this.connected = false;
    this.metrics.connected.set(0);
  }
}
