// A spill object: the WAL records a stopping worker could not drain, as one gzip'd binary object in the
// pipeline's bucket, replayed by any worker of the pipeline (spill-replay.ts). The body keeps each message
// exactly as the WAL does (wal-record.ts: topic, payload bytes, QoS/DUP flags, user properties, receive
// time); gzip's CRC-32 and length check the whole body on decode, the PUT's Content-MD5 checks the upload.
//
// object = gzip( magic "MQ2PSPIL" | version u8 | count u32 | instance u16+bytes | WAL group value )
//
// Keys live beside the dead letters under a folder no pipeline name can take ("_" is not allowed in one):
//   <prefix>_spill/<pipeline>/<yyyymmddThhmmssmmmZ>-<instance>-<n>.bin.gz      the objects
//   <prefix>_spill/<pipeline>/claims/<object name>                           a replaying worker's claim

import { promisify } from 'node:util';
import { gunzip, gzip, constants as zlib } from 'node:zlib';
import type { InboundMessage } from './message.ts';
import { decodeGroup, encodeGroup } from './wal-record.ts';

const MAGIC = Buffer.from('MQ2PSPIL', 'ascii');
const VERSION = 1;
const HEADER_BYTES = MAGIC.length + 1 + 4 + 2;

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export interface SpillContents {
  /** The worker that spilled (its instance, the pod name): for the operator reading a key or a log. */
  instance: string;
  messages: InboundMessage[];
}

export async function encodeSpill(c: SpillContents): Promise<Buffer> {
  const instance = Buffer.from(c.instance, 'utf8');
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header[MAGIC.length] = VERSION;
  header.writeUInt32BE(c.messages.length, MAGIC.length + 1);
  header.writeUInt16BE(instance.length, MAGIC.length + 5);
  // Level 1: a spill races the grace period; the JSON payloads still shrink several times.
  return gzipAsync(Buffer.concat([header, instance, encodeGroup(c.messages)]), { level: zlib.Z_BEST_SPEED });
}

/** Throws, naming what is wrong, on anything but an intact spill object of a known version. */
export async function decodeSpill(body: Uint8Array): Promise<SpillContents> {
  let raw: Buffer;
  try {
    raw = await gunzipAsync(body);
  } catch (err) {
    throw new Error(`not an intact spill object (gzip: ${(err as Error).message})`);
  }
  if (raw.length < HEADER_BYTES || !raw.subarray(0, MAGIC.length).equals(MAGIC))
    throw new Error('not a spill object (no MQ2PSPIL header)');
  const version = raw[MAGIC.length];
  if (version !== VERSION)
    throw new Error(`spill object version ${version} is not supported by this worker (expects ${VERSION})`);
  const count = raw.readUInt32BE(MAGIC.length + 1);
  const il = raw.readUInt16BE(MAGIC.length + 5);
  const instance = raw.toString('utf8', HEADER_BYTES, HEADER_BYTES + il);
  const messages = decodeGroup(raw.subarray(HEADER_BYTES + il));
  if (messages.length !== count)
    throw new Error(`spill object holds ${messages.length} messages, its header says ${count}`);
  return { instance, messages };
}

/** The folder of a pipeline's spill objects. */
export const spillFolder = (prefix: string, pipeline: string) => `${prefix}_spill/${pipeline}/`;

/** A new spill object's key: sortable by time, unique per worker and object. */
export function spillKey(prefix: string, pipeline: string, instance: string, now: Date, n: number): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${spillFolder(prefix, pipeline)}${stamp}-${instance.replace(/[^A-Za-z0-9_.-]/g, '-')}-${n}.bin.gz`;
}

/** The key of the claim a replaying worker holds on a spill object. */
export function claimKey(objectKey: string): string {
  const slash = objectKey.lastIndexOf('/');
  return `${objectKey.slice(0, slash + 1)}claims/${objectKey.slice(slash + 1)}`;
}
