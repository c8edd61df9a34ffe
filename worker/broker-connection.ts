// One connection of the receiver to a broker: the socket (TCP or TLS) with its mqtt-packet parser, the
// CONNECT and DISCONNECT packets the worker sends, and the batched PUBACK writes. The receiver (receiver.ts)
// drives the handshake and the session on top of it.

import net from 'node:net';
import tls from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import type { MqttClientOptions } from '../common/client-options.ts';
import { certificateProblem } from '../common/tls-errors.ts';
import { InflightWindow } from './broker-session.ts';

export interface Connection {
  socket: net.Socket;
  parser: ReturnType<typeof mqttPacket.parser>;
  open: boolean;
  /** Packet ids of the PUBACKs queued this tick. */
  acks: number[];
  ackFlushScheduled: boolean;
  lastReadAt: number;
  keepalive?: NodeJS.Timeout;
  inflight: InflightWindow;
  windowWarned: boolean;
}

const sniName = (opts: MqttClientOptions, host: string) => opts.tls?.servername ?? (net.isIP(host) ? undefined : host);

/** Opens the socket to `url` (TLS for mqtts/ssl/tls or when TLS options are set); `where` names it in logs. */
export function openConnection(
  opts: MqttClientOptions,
  url: URL,
): { conn: Connection; secure: boolean; where: string } {
  const secure = /^(mqtts|ssl|tls):$/.test(url.protocol) || opts.tls !== undefined;
  const port = Number(url.port || (secure ? 8883 : 1883));
  const host = url.hostname;
  const socket = secure
    ? tls.connect({
        host,
        port,
        ...(opts.tls?.ca ? { ca: opts.tls.ca } : {}),
        ...(opts.tls?.cert ? { cert: opts.tls.cert } : {}),
        ...(opts.tls?.key ? { key: opts.tls.key } : {}),
        // SNI carries names only (RFC 6066): an IP address is checked against the certificate without it.
        ...(sniName(opts, host) ? { servername: sniName(opts, host) } : {}),
        rejectUnauthorized: opts.tls?.rejectUnauthorized ?? true,
      })
    : net.connect({ host, port });
  socket.setNoDelay(true);
  const conn: Connection = {
    socket,
    parser: mqttPacket.parser({ protocolVersion: opts.protocolVersion }),
    open: true,
    acks: [],
    ackFlushScheduled: false,
    lastReadAt: Date.now(),
    inflight: new InflightWindow(opts.receiveMaximum),
    windowWarned: false,
  };
  return { conn, secure, where: `${url.protocol}//${host}:${port}` };
}

/** CONNECT keeping the session (clean start off), with the MQTT 5 limits the worker asks the broker for. */
export function connectPacket(opts: MqttClientOptions): Packet {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: opts.protocolVersion,
    clientId: opts.clientId,
    clean: false,
    keepalive: opts.keepaliveSeconds,
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: Buffer.from(opts.password) } : {}),
    ...(opts.protocolVersion === 5
      ? {
          properties: {
            sessionExpiryInterval: opts.sessionExpirySeconds,
            receiveMaximum: opts.receiveMaximum,
            maximumPacketSize: opts.maximumPacketSize,
          },
        }
      : {}),
  };
}

/**
 * MQTT 5: a DISCONNECT without a Session Expiry Interval keeps the CONNECT's, so the session (and the messages
 * queued for it) outlives the connection. Expiry 0 only when the session is to end with this worker.
 */
export function disconnectPacket(opts: MqttClientOptions, endSession: boolean): Packet {
  if (opts.protocolVersion !== 5) return { cmd: 'disconnect' };
  return { cmd: 'disconnect', reasonCode: 0, ...(endSession ? { properties: { sessionExpiryInterval: 0 } } : {}) };
}

/** A socket error while connecting, with what to check when the broker cannot be reached at all. */
export function socketErrorMessage(where: string, err: NodeJS.ErrnoException): string {
  const unreachable = err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN';
  const hint = unreachable ? `; check source.brokers (${where}) and that the broker is running` : '';
  const tls = certificateProblem(err, {
    ca: 'spec.source.tls.caSecretRef',
    name: 'source.brokers, or source.tls.serverName',
  });
  return `cannot connect to ${where}: ${tls ?? `${err.message}${hint}`}`;
}

/**
 * PINGREQ every half keepalive period; a connection silent for two periods (unless `silenceExpected`) is
 * destroyed, which the receiver sees as a lost connection and reconnects.
 */
export function startKeepalive(
  conn: Connection,
  periodMs: number,
  protocolVersion: 4 | 5,
  o: { silenceExpected: () => boolean; onSilent: () => void },
): void {
  if (periodMs <= 0) return;
  conn.keepalive = setInterval(() => {
    if (!o.silenceExpected() && Date.now() - conn.lastReadAt > 2 * periodMs) {
      o.onSilent();
      conn.socket.destroy();
      return;
    }
    sendPacket(conn, { cmd: 'pingreq' }, protocolVersion);
  }, periodMs / 2);
  conn.keepalive.unref();
}

export function sendPacket(conn: Connection, packet: Packet, protocolVersion: 4 | 5): void {
  if (conn.open) conn.socket.write(mqttPacket.generate(packet, { protocolVersion }));
}

/** Queues a PUBACK; the acks queued in one tick (one group commit) leave in one write, in receive order. */
export function queuePuback(conn: Connection, messageId: number): void {
  conn.acks.push(messageId);
  if (conn.ackFlushScheduled) return;
  conn.ackFlushScheduled = true;
  process.nextTick(() => {
    conn.ackFlushScheduled = false;
    const ids = conn.acks;
    conn.acks = [];
    if (conn.open && ids.length > 0) conn.socket.write(pubackPackets(ids));
  });
}

/**
 * Success PUBACKs for `ids`, back to back: 4 bytes each, the same in MQTT 3.1.1 and 5 (MQTT 5 §3.4.2.1 omits
 * a success reason code without properties). Encoded here rather than by mqtt-packet, whose generate() was a
 * measurable share of the worker's CPU at one packet per message (docs/benchmarks.md).
 */
export function pubackPackets(ids: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(ids.length * 4);
  for (let i = 0, o = 0; i < ids.length; i++, o += 4) {
    const id = ids[i] as number;
    out[o] = 0x40;
    out[o + 1] = 0x02;
    out[o + 2] = id >> 8;
    out[o + 3] = id & 0xff;
  }
  return out;
}
