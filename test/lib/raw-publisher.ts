// An MQTT 5 publisher that sends topics, payloads and user properties byte for byte (no client library in
// between that would re-encode or refuse them), QoS 1 with a window of unacknowledged publishes, and records
// which messages the broker acknowledged: the other half of a delivery ledger. A dropped connection is
// reopened and its unacknowledged publishes are sent again (at least once, as a device would).
// Messages marked wireInvalid go over a connection of their own, one at a time, because a conforming broker
// answers a malformed string by closing the connection; a refusal is recorded, not retried.

import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';

export interface RawMessage {
  n: number;
  topic: Buffer;
  payload: Buffer;
  userProperties: Array<[Buffer, Buffer]>;
  wireInvalid?: boolean;
}

export interface BrokerAddress {
  url: string;
  username: string;
  password: string;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

const u16 = (n: number) => {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n);
  return b;
};

/** A QoS 1 MQTT 5 PUBLISH packet from raw bytes. */
export function encodePublish(m: RawMessage, packetId: number, dup = false): Buffer {
  if (m.topic.length > 0xffff) throw new Error(`topic of ${m.topic.length} bytes does not fit MQTT's u16 length`);
  const props = Buffer.concat(
    m.userProperties.flatMap(([k, v]) => [Buffer.from([0x26]), u16(k.length), k, u16(v.length), v]),
  );
  const body = [u16(m.topic.length), m.topic, u16(packetId), varint(props.length), props, m.payload];
  const remaining = body.reduce((s, b) => s + b.length, 0);
  return Buffer.concat([Buffer.from([0x32 | (dup ? 0x08 : 0)]), varint(remaining), ...body]);
}

interface Conn {
  socket: Socket;
  closed: Promise<string>;
  onPuback: (id: number, reasonCode: number) => void;
}

async function open(b: BrokerAddress, onPuback: Conn['onPuback']): Promise<Conn> {
  const url = new URL(b.url);
  const socket = connect({ host: url.hostname, port: Number(url.port || 1883), noDelay: true });
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  let reason = 'connection closed';
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(reason)));
  const connack = new Promise<void>((resolve, reject) => {
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd === 'connack') {
        if ((p.reasonCode ?? 0) !== 0) reject(new Error(`broker refused CONNECT with reason ${p.reasonCode}`));
        else resolve();
      } else if (p.cmd === 'puback') onPuback(p.messageId ?? 0, p.reasonCode ?? 0);
      else if (p.cmd === 'disconnect') reason = `broker sent DISCONNECT ${p.reasonCode}`;
    });
    parser.on('error', (e: Error) => socket.destroy(e));
    socket.once('error', (e) => {
      reason = e.message;
      reject(e);
    });
    closed.then((r) => reject(new Error(r)));
  });
  socket.on('data', (d) => parser.parse(d));
  socket.write(
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
      clientId: `fuzzpub-${randomBytes(4).toString('hex')}`,
      username: b.username,
      password: Buffer.from(b.password),
    }),
  );
  await connack;
  socket.on('error', () => {});
  return { socket, closed, onPuback };
}

export interface PublishOptions {
  /** Unacknowledged publishes on the main connection. Default 500. */
  inflight?: number;
  /** Publishes per second; 0 (default) = as fast as the broker acknowledges. */
  rate?: number;
  onProgress?: (p: PublishProgress) => void;
  /** Counters the caller can read while it runs (kept up to date on every send and PUBACK). */
  live?: PublishProgress;
}

export interface PublishProgress {
  sent: number;
  acked: number;
  refused: number;
  reconnects: number;
}

export interface PublishResult extends PublishProgress {
  /** acked[n] is 1 when the broker acknowledged message n (PUBACK with a reason code below 0x80). */
  ackMap: Uint8Array;
  elapsedMs: number;
  /** Why wire-invalid messages were refused, by message number. */
  refusals: Map<number, string>;
}

/**
 * Publishes `count` messages from `source(n)` (n = 0 … count-1, called in order) with QoS 1 and returns what
 * the broker acknowledged. The ack map is indexed by n.
 */
export async function publishRaw(
  b: BrokerAddress,
  count: number,
  source: (n: number) => RawMessage,
  o: PublishOptions = {},
): Promise<PublishResult> {
  const window = o.inflight ?? 500;
  const acked = new Uint8Array(count);
  const refusals = new Map<number, string>();
  const p: PublishProgress = o.live ?? { sent: 0, acked: 0, refused: 0, reconnects: 0 };
  const started = Date.now();
  const inflight = new Map<number, RawMessage>();
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onPuback = (id: number, reasonCode: number) => {
    const m = inflight.get(id);
    if (!m) return;
    inflight.delete(id);
    if (reasonCode < 0x80) {
      if (!acked[m.n]) p.acked++;
      acked[m.n] = 1;
    } else {
      p.refused++;
      refusals.set(m.n, `PUBACK reason ${reasonCode}`);
    }
    notify();
  };
  let conn = await open(b, onPuback);
  let lost = false;
  const watchClose = (c: Conn) =>
    c.closed.then(() => {
      lost = true;
      notify();
    });
  watchClose(conn);
  const reopen = async () => {
    p.reconnects++;
    for (let attempt = 0; ; attempt++) {
      try {
        conn = await open(b, onPuback);
        break;
      } catch (err) {
        if (attempt > 50) throw new Error(`cannot reconnect to ${b.url}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    lost = false;
    watchClose(conn);
    for (const [id, m] of inflight) conn.socket.write(encodePublish(m, id, true));
  };
  const side: RawMessage[] = [];
  let nextId = 1;
  const ticker = o.onProgress ? setInterval(() => o.onProgress?.(p), 1000) : undefined;
  try {
    for (let n = 0; n < count; n++) {
      const m = source(n);
      p.sent++;
      if (m.wireInvalid) {
        side.push(m);
        continue;
      }
      if (o.rate) {
        const wait = started + (n / o.rate) * 1000 - Date.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
      while (inflight.size >= window || lost) {
        if (lost) await reopen();
        else await new Promise<void>((r) => (wake = r));
      }
      while (inflight.has(nextId)) nextId = (nextId % 0xffff) + 1;
      const id = nextId;
      nextId = (nextId % 0xffff) + 1;
      inflight.set(id, m);
      if (!conn.socket.write(encodePublish(m, id))) await new Promise((r) => conn.socket.once('drain', r));
      if (n % 256 === 0) await new Promise((r) => setImmediate(r));
    }
    while (inflight.size > 0) {
      if (lost) await reopen();
      else await new Promise<void>((r) => (wake = r));
    }
    for (const m of side) await publishAlone(b, m, acked, refusals, p);
  } finally {
    if (ticker) clearInterval(ticker);
    conn.socket.end(mqttPacket.generate({ cmd: 'disconnect', reasonCode: 0 }));
  }
  o.onProgress?.(p);
  return { ...p, ackMap: acked, elapsedMs: Date.now() - started, refusals };
}

/** One publish on a connection of its own: acknowledged, or refused (PUBACK error or connection closed). */
async function publishAlone(
  b: BrokerAddress,
  m: RawMessage,
  acked: Uint8Array,
  refusals: Map<number, string>,
  p: PublishProgress,
): Promise<void> {
  let done: (outcome: string) => void = () => {};
  const outcome = new Promise<string>((r) => (done = r));
  const c = await open(b, (_id, reasonCode) => done(reasonCode < 0x80 ? 'acked' : `PUBACK reason ${reasonCode}`));
  c.closed.then((why) => done(why));
  c.socket.write(encodePublish(m, 1));
  const timer = setTimeout(() => done('no PUBACK within 10 s'), 10_000);
  const result = await outcome;
  clearTimeout(timer);
  c.socket.destroy();
  if (result === 'acked') {
    acked[m.n] = 1;
    p.acked++;
  } else {
    p.refused++;
    refusals.set(m.n, result);
  }
}
