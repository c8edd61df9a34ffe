// Reading dead letters back (for `mqtt2pg replay`): the objects under a prefix, each JSON line turned back
// into the message the worker received (deadletter.ts writes them), and the object deleted once its rows are
// committed.

import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { InboundMessage, UserProperties } from './message.ts';

/** An object's letters: the messages, and the lines that are not dead letters (kept, never replayed). */
export interface DeadLetterObject {
  key: string;
  messages: InboundMessage[];
  /** Attempts each letter had before, in `messages` order (a replay that fails again adds its own). */
  attempts: number[];
  badLines: { line: number; error: string }[];
}

/** One object's text as messages; a line that is not a dead letter is reported with its number, not dropped. */
export function parseDeadLetters(key: string, text: string): DeadLetterObject {
  const out: DeadLetterObject = { key, messages: [], attempts: [], badLines: [] };
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const d = JSON.parse(line) as Record<string, unknown>;
      if (typeof d.topic !== 'string' || typeof d.payload !== 'string' || typeof d.receivedAt !== 'string')
        throw new Error('topic, payload and receivedAt must be strings');
      const receivedAt = Date.parse(d.receivedAt);
      if (Number.isNaN(receivedAt)) throw new Error(`receivedAt "${d.receivedAt}" is not a time`);
      const userProperties = d.userProperties as UserProperties | undefined;
      out.messages.push({
        topic: d.topic,
        payload: Buffer.from(d.payload, 'base64'),
        receivedAt,
        qos: d.qos === 0 ? 0 : 1,
        dup: false,
        ...(userProperties && Object.keys(userProperties).length > 0 ? { userProperties } : {}),
        ...(typeof d.contentType === 'string' ? { contentType: d.contentType } : {}),
      });
      out.attempts.push(typeof d.attempts === 'number' ? d.attempts : 0);
    } catch (err) {
      out.badLines.push({ line: i + 1, error: (err as Error).message });
    }
  });
  return out;
}

/** `s3://BUCKET/PREFIX` → bucket and prefix (the prefix may be empty). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new Error(`"${url}" is not an S3 location; write it like s3://BUCKET/PREFIX`);
  return { bucket: m[1] as string, prefix: m[2] as string };
}

export class DeadLetterSource {
  private readonly s3: S3Client;
  private readonly bucket: string;

  constructor(config: S3ClientConfig, bucket: string) {
    this.s3 = new S3Client(config);
    this.bucket = bucket;
  }

  /**
   * The keys of every .jsonl object under `prefix`, listed once, in key (time) order: objects written during
   * the replay (its own still-rejected letters, a worker's new ones) are not part of it.
   */
  async list(prefix: string): Promise<{ key: string; size: number }[]> {
    const out: { key: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key?.endsWith('.jsonl')) out.push({ key: o.Key, size: o.Size ?? 0 });
      token = page.NextContinuationToken;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async read(key: string): Promise<DeadLetterObject> {
    const obj = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const text = await (obj.Body as { transformToString(): Promise<string> }).transformToString();
    return parseDeadLetters(key, text);
  }

  /** Only after the object's rows are committed (and its still-rejected letters stored again). */
  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  close(): void {
    this.s3.destroy();
  }
}
