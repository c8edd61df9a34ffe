// One broker connection up to a running subscription: TCP or TLS, CONNECT and CONNACK, SUBSCRIBE and SUBACK
// (again with another packet id when the broker has one in use), within connectTimeout. Fails fast on what
// is permanent (broker-errors.ts); once subscribed, the packets and the connection's loss go to the hooks
// (the receiver, receiver.ts).

import type { IPublishPacket, Packet } from 'mqtt-packet';
import type { MqttClientOptions } from '../common/client-options.ts';
import type { Logger } from '../common/logger.ts';
import { type Connection, connectPacket, openConnection, sendPacket, socketErrorMessage } from './broker-connection.ts';
import { BrokerError, connackRefusal, handshakeTimeout } from './broker-errors.ts';
import { shortenedSessionExpiry, subackOutcome, subscribePacketId } from './broker-session.ts';
import { MqttReader } from './mqtt-reader.ts';

export interface HandshakeHooks {
  /** A PUBLISH on this connection (during the handshake too: a resumed session sends at once). */
  onPublish(conn: Connection, packet: IPublishPacket): void;
  /** Subscribed: called before the returned promise resolves. */
  onRunning(conn: Connection, where: string, sessionPresent: boolean): void;
  /** The connection closed after it was running. */
  onConnectionLost(conn: Connection, where: string): void;
}

/** Connects to `url` and subscribes; resolves once the SUBACK grants the subscriptions. */
export function connectAndSubscribe(
  opts: MqttClientOptions,
  url: URL,
  subscriptions: string[],
  log: Logger,
  hooks: HandshakeHooks,
): Promise<{ sessionPresent: boolean }> {
  const { conn, secure, where } = openConnection(opts, url);
  const { socket, parser } = conn;

  return new Promise((resolve, reject) => {
    let phase: 'connecting' | 'subscribing' | 'running' = 'connecting';
    let sessionPresent = false;
    let transportUp = false;
    let subscribeId = 0;
    let subscribeAttempts = 0;
    const refusedIds = new Set<number>();
    const subscribe = () => {
      subscribeId = subscribePacketId((id) => conn.inflight.has(id) || refusedIds.has(id));
      subscribeAttempts++;
      sendPacket(
        conn,
        {
          cmd: 'subscribe',
          messageId: subscribeId,
          subscriptions: subscriptions.map((topic) => ({ topic, qos: opts.qos })),
        },
        opts.protocolVersion,
      );
    };
    const fail = (err: Error) => {
      if (phase !== 'running') {
        clearTimeout(timer);
        conn.open = false;
        socket.destroy();
        reject(err);
      }
    };
    const timer = setTimeout(
      () => fail(handshakeTimeout(where, opts.connectTimeoutMs, transportUp)),
      opts.connectTimeoutMs,
    );

    parser.on('error', (err: Error) => {
      log.error({ err: err.message, broker: where }, 'malformed MQTT packet from the broker; reconnecting');
      socket.destroy();
    });
    // PUBLISH straight from the socket's bytes; the rest through mqtt-packet (mqtt-reader.ts).
    const reader = new MqttReader(parser, opts.protocolVersion, (packet) => hooks.onPublish(conn, packet));
    socket.on('data', (chunk: Buffer) => {
      conn.lastReadAt = Date.now();
      reader.parse(chunk);
    });
    parser.on('packet', (packet: Packet) => {
      switch (packet.cmd) {
        case 'publish':
          hooks.onPublish(conn, packet);
          return;
        case 'connack': {
          const refused = connackRefusal(packet, opts.protocolVersion, where);
          if (refused) {
            fail(refused);
            return;
          }
          sessionPresent = packet.sessionPresent;
          const granted = shortenedSessionExpiry(opts.sessionExpirySeconds, packet.properties?.sessionExpiryInterval);
          if (granted !== undefined)
            log.warn(
              { broker: where, askedSeconds: opts.sessionExpirySeconds, grantedSeconds: granted },
              "the broker keeps this worker's session for less time than source.sessionExpiry asks; a longer outage loses what it holds (raise the broker's maximum session expiry)",
            );
          phase = 'subscribing';
          // Also on a resumed session: sessionPresent does not say the session holds this configuration's
          // subscription (docs/brokers.md, "Subscribing again on a resumed session").
          subscribe();
          return;
        }
        case 'suback': {
          if (phase !== 'subscribing' || packet.messageId !== subscribeId) return;
          const outcome = subackOutcome(packet, subscriptions, subscribeAttempts);
          if (outcome.kind === 'refused') {
            fail(outcome.error);
            return;
          }
          if (outcome.kind === 'retry') {
            log.info(
              { broker: where, packetId: subscribeId },
              'the broker has the SUBSCRIBE packet id in use (0x91); subscribing again with another id',
            );
            refusedIds.add(subscribeId);
            subscribe();
            return;
          }
          phase = 'running';
          clearTimeout(timer);
          hooks.onRunning(conn, where, sessionPresent);
          resolve({ sessionPresent });
          return;
        }
        case 'disconnect': {
          const reason = (packet as { reasonCode?: number }).reasonCode ?? 0;
          log.warn({ broker: where, reasonCode: reason }, 'broker sent DISCONNECT');
          socket.destroy();
          return;
        }
        default:
          return; // pingresp, unsuback: nothing to do
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => fail(new BrokerError(socketErrorMessage(where, err), false)));
    socket.on('close', () => {
      conn.open = false;
      if (conn.keepalive) clearInterval(conn.keepalive);
      if (phase !== 'running') {
        fail(new BrokerError(`${where} closed the connection during the handshake`, false));
        return;
      }
      hooks.onConnectionLost(conn, where);
    });

    const start = () => {
      transportUp = true;
      sendPacket(conn, connectPacket(opts), opts.protocolVersion);
    };
    if (secure) socket.once('secureConnect', start);
    else socket.once('connect', start);
  });
}
