// Splits the broker's byte stream into MQTT packets. PUBLISH, nearly every packet the worker reads, is decoded
// here straight from the socket chunk; every other packet, and any PUBLISH this decoder does not take as
// plainly well-formed, goes to mqtt-packet's parser as whole frames, so what it decides stays the behaviour.
// Why: mqtt-packet reads through a BufferList that cuts a new Buffer for every field it reads (each byte of a
// length included): a quarter of everything the worker allocated at full rate, and the garbage collection
// that came with it (docs/benchmarks.md, "Where the receive path's time went"). worker/mqtt-reader.test.ts
// holds the two to the same packets over random streams, split anywhere.

import type { IPublishPacket } from 'mqtt-packet';

/** The part of mqtt-packet's parser the reader hands frames to. */
export interface FrameParser {
  parse(buf: Buffer): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

const PUBLISH = 3;
/** One byte of header, at most four of remaining length. */
const MAX_HEADER_BYTES = 5;

export class MqttReader {
  /** Chunks of a packet not yet complete: joined once, when all its bytes are here (a large payload arrives in many reads). */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** Bytes the first part's packet needs in all; 0 while its length is not known yet. */
  private need = 0;
  /** Once the stream cannot be framed, mqtt-packet's parser gets all of it (and reports the error). */
  private passthrough = false;
  private readonly fallback: FrameParser;
  private readonly protocolVersion: 4 | 5;
  private readonly onPublish: (packet: IPublishPacket) => void;

  constructor(fallback: FrameParser, protocolVersion: 4 | 5, onPublish: (packet: IPublishPacket) => void) {
    this.fallback = fallback;
    this.protocolVersion = protocolVersion;
    this.onPublish = onPublish;
    // mqtt-packet stops at a malformed packet (the connection is then closed): so does the reader, and
    // what follows goes to the parser as it would have alone.
    fallback.on('error', () => {
      this.passthrough = true;
    });
  }

  /**
   * Bytes of a packet not yet complete. mqtt-packet reports a bad header at its first byte; the reader, once the
   * packet's remaining length has arrived.
   */
  get pendingBytes(): number {
    return this.partsBytes;
  }

  parse(chunk: Buffer): void {
    if (this.passthrough) {
      this.fallback.parse(chunk);
      return;
    }
    let buf = chunk;
    if (this.parts.length > 0) {
      this.parts.push(chunk);
      this.partsBytes += chunk.length;
      if (this.need > 0 && this.partsBytes < this.need) return;
      buf = Buffer.concat(this.parts, this.partsBytes);
      this.parts = [];
      this.partsBytes = 0;
    }
    let at = 0;
    while (at < buf.length) {
      const frame = frameAt(buf, at);
      if (frame === MALFORMED) {
        this.passthrough = true;
        this.fallback.parse(buf.subarray(at));
        return;
      }
      const end = frame === INCOMPLETE ? Number.POSITIVE_INFINITY : frame.bodyStart + frame.length;
      if (frame === INCOMPLETE || end > buf.length) {
        // A view, not a copy: it lives until the rest of its packet arrives.
        this.parts = [buf.subarray(at)];
        this.partsBytes = buf.length - at;
        this.need = frame === INCOMPLETE ? 0 : end - at;
        return;
      }
      const publish =
        (buf[at] as number) >> 4 === PUBLISH
          ? decodePublish(buf, at, frame.bodyStart, end, this.protocolVersion)
          : undefined;
      if (publish) this.onPublish(publish);
      else {
        this.fallback.parse(buf.subarray(at, end));
        if (this.passthrough) return;
      }
      at = end;
    }
  }
}

const INCOMPLETE = 0;
const MALFORMED = 1;

/** Where the packet starting at `at` has its body and how long that is (known before the body arrives). */
function frameAt(
  buf: Buffer,
  at: number,
): { bodyStart: number; length: number } | typeof INCOMPLETE | typeof MALFORMED {
  let length = 0;
  let multiplier = 1;
  for (let i = at + 1; i < at + MAX_HEADER_BYTES; i++) {
    if (i >= buf.length) return INCOMPLETE;
    const b = buf[i] as number;
    length += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) return { bodyStart: i + 1, length };
    multiplier *= 128;
  }
  return MALFORMED;
}

/**
 * The PUBLISH packet of buf[at, end), as mqtt-packet would parse it; undefined for what this decoder leaves to
 * mqtt-packet: QoS 2 or 3, a length past the frame, a property a PUBLISH does not carry or carries twice.
 */
function decodePublish(
  buf: Buffer,
  at: number,
  bodyStart: number,
  end: number,
  protocolVersion: 4 | 5,
): IPublishPacket | undefined {
  const flags = (buf[at] as number) & 0x0f;
  const qos = (flags >> 1) & 3;
  if (qos > 1) return undefined;
  let o = bodyStart;
  if (o + 2 > end) return undefined;
  const topicEnd = o + 2 + buf.readUInt16BE(o);
  if (topicEnd > end) return undefined;
  const topic = buf.toString('utf8', o + 2, topicEnd);
  o = topicEnd;
  let messageId: number | undefined;
  if (qos > 0) {
    if (o + 2 > end) return undefined;
    messageId = buf.readUInt16BE(o);
    o += 2;
  }
  let properties: IPublishPacket['properties'];
  if (protocolVersion === 5) {
    const len = varInt(buf, o, end);
    if (len === undefined) return undefined;
    o = len.next;
    const propsEnd = o + len.value;
    if (propsEnd > end) return undefined;
    if (len.value > 0) {
      properties = publishProperties(buf, o, propsEnd);
      if (properties === undefined) return undefined;
    }
    o = propsEnd;
  }
  const packet = {
    cmd: 'publish',
    retain: (flags & 1) !== 0,
    qos,
    dup: (flags & 8) !== 0,
    length: end - bodyStart,
    topic,
    payload: buf.subarray(o, end),
  } as IPublishPacket;
  if (messageId !== undefined) packet.messageId = messageId;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/** MQTT's variable byte integer at buf[o], within `end`. */
function varInt(buf: Buffer, o: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  let multiplier = 1;
  for (let i = o; i < o + 4 && i < end; i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) return { value, next: i + 1 };
    multiplier *= 128;
  }
  return undefined;
}

type Properties = NonNullable<IPublishPacket['properties']>;

/** The properties of a PUBLISH in buf[o, end), shaped as mqtt-packet shapes them; undefined to leave them to it. */
function publishProperties(buf: Buffer, o: number, end: number): Properties | undefined {
  const out: Record<string, unknown> = {};
  const str = (): string | undefined => {
    if (o + 2 > end) return undefined;
    const e = o + 2 + buf.readUInt16BE(o);
    if (e > end) return undefined;
    const s = buf.toString('utf8', o + 2, e);
    o = e;
    return s;
  };
  while (o < end) {
    const id = buf[o++] as number;
    switch (id) {
      case 0x01: // payloadFormatIndicator
        if (o + 1 > end || 'payloadFormatIndicator' in out) return undefined;
        out.payloadFormatIndicator = buf[o++] !== 0;
        break;
      case 0x02: // messageExpiryInterval
        if (o + 4 > end || 'messageExpiryInterval' in out) return undefined;
        out.messageExpiryInterval = buf.readUInt32BE(o);
        o += 4;
        break;
      case 0x03: // contentType
      case 0x08: {
        // responseTopic
        const name = id === 0x03 ? 'contentType' : 'responseTopic';
        const s = str();
        if (s === undefined || name in out) return undefined;
        out[name] = s;
        break;
      }
      case 0x09: {
        // correlationData
        if (o + 2 > end || 'correlationData' in out) return undefined;
        const e = o + 2 + buf.readUInt16BE(o);
        if (e > end) return undefined;
        out.correlationData = buf.subarray(o + 2, e);
        o = e;
        break;
      }
      case 0x0b: {
        // subscriptionIdentifier: repeated when several subscriptions matched
        const v = varInt(buf, o, end);
        if (v === undefined) return undefined;
        o = v.next;
        const prev = out.subscriptionIdentifier;
        out.subscriptionIdentifier =
          prev === undefined ? v.value : Array.isArray(prev) ? [...prev, v.value] : [prev as number, v.value];
        break;
      }
      case 0x23: // topicAlias
        if (o + 2 > end || 'topicAlias' in out) return undefined;
        out.topicAlias = buf.readUInt16BE(o);
        o += 2;
        break;
      case 0x26: {
        // userProperties: a repeated name collects its values in an array, in order (mqtt-packet 9.0.2 drops
        // the first value when it is the empty string; the reader keeps it)
        const name = str();
        const value = str();
        if (name === undefined || value === undefined) return undefined;
        if (out.userProperties === undefined) out.userProperties = Object.create(null);
        const up = out.userProperties as Record<string, string | string[]>;
        const prev = up[name];
        up[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
        break;
      }
      default:
        return undefined;
    }
  }
  return out as Properties;
}
