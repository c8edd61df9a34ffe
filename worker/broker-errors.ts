// What a broker's refusal means, in words the user can act on, and whether retrying can help: a wrong
// address or a busy server may pass; bad credentials, a refused client id or subscription will not.

import type { IConnackPacket, ISubackPacket } from 'mqtt-packet';

export class BrokerError extends Error {
  override name = 'BrokerError';
  /** Retrying cannot help (credentials, authorization, a refused subscription). */
  readonly permanent: boolean;
  /** The broker accepted the connection but did not answer in time: alive, maybe resuming a large session. */
  readonly slow: boolean;
  constructor(message: string, permanent: boolean, slow = false) {
    super(message);
    this.permanent = permanent;
    this.slow = slow;
  }
}

/** No CONNACK/SUBACK within source.connectTimeout; `connected` whether the TCP (and TLS) connection was up. */
export function handshakeTimeout(where: string, timeoutMs: number, connected: boolean): BrokerError {
  return connected
    ? new BrokerError(
        `broker ${where} accepted the connection but sent no CONNACK/SUBACK within ${timeoutMs} ms (a broker resuming a session with a large backlog can take longer: raise source.connectTimeout)`,
        false,
        true,
      )
    : new BrokerError(
        `no connection to ${where} within ${timeoutMs} ms; check source.brokers and the network path`,
        false,
      );
}

// CONNACK reason codes worth explaining (MQTT 5 §3.2.2.2; 3.1.1 return codes mapped the same way).
const CONNACK_REASONS: Record<number, [string, boolean]> = {
  0x80: ['unspecified error', false],
  0x84: ['unsupported protocol version: try source.protocolVersion 4', true],
  0x85: ['client identifier not valid: change source.clientIdPrefix', true],
  0x86: ['bad user name or password: check the Secret in source.auth.secretRef', true],
  // Mosquitto answers a wrong password with 0x87 too.
  0x87: [
    'not authorized: check the user name and password in the Secret of source.auth.secretRef, and the broker ACL',
    true,
  ],
  0x88: ['server unavailable', false],
  0x89: ['server busy', false],
  0x8a: ['banned', true],
  0x8c: ['bad authentication method', true],
  0x9f: ['connection rate exceeded', false],
};
// An MQTT 5 CONNACK has no reason code 0x01: it is a 3.1.x broker's "unacceptable protocol version" (Moquette
// before 0.18 answers so, docs/brokers.md).
const V3_ONLY: [string, boolean] = [
  'it does not speak MQTT 5 (it answered with the MQTT 3.1.1 code "unacceptable protocol version"): set source.protocolVersion: 4 if it supports $share/ shared subscriptions on MQTT 3.1.1 (docs/brokers.md)',
  true,
];
const V4_RETURN_CODES: Record<number, number> = { 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };

/** Why the broker at `where` refused the connection, or undefined when the CONNACK accepts it. */
export function connackRefusal(packet: IConnackPacket, protocolVersion: 4 | 5, where: string): BrokerError | undefined {
  const raw = protocolVersion === 5 ? (packet.reasonCode ?? 0) : (packet.returnCode ?? 0);
  const code = protocolVersion === 5 ? raw : (V4_RETURN_CODES[raw] ?? (raw === 0 ? 0 : 0x80));
  if (code === 0) return undefined;
  const [text, permanent] =
    protocolVersion === 5 && code === 1
      ? V3_ONLY
      : (CONNACK_REASONS[code] ?? [`reason code 0x${code.toString(16)}`, false]);
  return new BrokerError(`broker ${where} refused the connection: ${text}`, permanent);
}

/** Why the broker refused one of our subscriptions (one SUBSCRIBE, a granted code each), or undefined when it grants all. */
export function subackRefusal(packet: ISubackPacket, subscriptions: string | string[]): BrokerError | undefined {
  const list = typeof subscriptions === 'string' ? [subscriptions] : subscriptions;
  const codes = packet.granted.map((g) => (typeof g === 'number' ? g : (g as { qos: number } | undefined)?.qos));
  const refusedAt = codes.findIndex((c) => c === undefined || c >= 0x80);
  if (codes.length > 0 && refusedAt < 0) return undefined;
  const code = codes[Math.max(0, refusedAt)];
  const subscription = list[Math.max(0, refusedAt)] ?? list.join(', ');
  if (code === 0x91)
    // Not the ACL: Comqtt and Mochi refuse a SUBSCRIBE whose id their own in-flight messages hold.
    return new BrokerError(
      `broker refused the subscription ${subscription} with reason 0x91 (packet identifier in use: its in-flight messages to this worker hold that id); retrying with another id`,
      false,
    );
  return new BrokerError(
    `broker refused the subscription ${subscription} (reason 0x${(code ?? 0x80).toString(16)}): check the broker ACL and that it supports shared subscriptions`,
    true,
  );
}
