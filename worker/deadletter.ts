// The dead-letter queue: rows PostgreSQL rejected, as JSON Lines objects in S3 (or any S3-compatible store),
// one object per flushed batch. A WAL entry is deleted only after the PUT that holds it succeeded.

import { hostname } from 'node:os';
import { HeadBucketCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { DeadLetter, DeadLetterStore } from './stages.ts';

/** Where a pipeline's dead letters go in the store. */
export interface DeadLetterPlace {
  pipeline: string;
  bucket: string;
  prefix: string;
}

/** One JSON line per dead letter: everything needed to replay or debug the message. */
export function deadLetterLine(pipeline: string, d: DeadLetter): string {
  return JSON.stringify({
    pipeline,
    topic: d.message.topic,
    payload: d.message.payload.toString('base64'),
    qos: d.message.qos,
    userProperties: d.message.userProperties ?? {},
    ...(d.message.contentType !== undefined ? { contentType: d.message.contentType } : {}),
    receivedAt: new Date(d.message.receivedAt).toISOString(),
    sqlstate: d.sqlstate ?? null,
    error: d.error,
    attempts: d.attempts,
  });
}

/** <prefix><pipeline>/<yyyy-mm-dd>/<time>-<host>-<n>.jsonl: sortable by time, unique per worker. */
export function deadLetterKey(prefix: string, pipeline: string, now: Date, host: string, n: number): string {
  const day = now.toISOString().slice(0, 10);
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${prefix}${pipeline}/${day}/${stamp}-${host}-${n}.jsonl`;
}

export class S3DeadLetterStore implements DeadLetterStore {
  private readonly s3: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly pipeline: string;
  private readonly host = hostname().replace(/[^A-Za-z0-9_.-]/g, '-');
  private n = 0;

  constructor(config: S3ClientConfig, place: DeadLetterPlace) {
    this.s3 = new S3Client(config);
    this.bucket = place.bucket;
    this.prefix = place.prefix;
    this.pipeline = place.pipeline;
  }

  async put(letters: DeadLetter[]): Promise<string> {
    const key = deadLetterKey(this.prefix, this.pipeline, new Date(), this.host, this.n++);
    const body = `${letters.map((l) => deadLetterLine(this.pipeline, l)).join('\n')}\n`;
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/x-ndjson' }),
    );
    return key;
  }

  /** Startup check: the bucket exists and the credentials can reach it. */
  async check(): Promise<void> {
    try {
      await this.s3.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
      const status = e.$metadata?.httpStatusCode;
      const why =
        status === 404
          ? `bucket "${this.bucket}" does not exist; create it or fix spec.deadLetter.s3.bucket`
          : status === 403
            ? `access to bucket "${this.bucket}" is denied; check the credentials in spec.deadLetter.s3.credentialsSecretRef`
            : `cannot reach the dead-letter store (${e.name ?? 'error'}: ${e.message ?? String(err)}); check spec.deadLetter.s3.endpoint`;
      throw new Error(why);
    }
  }

  close(): void {
    this.s3.destroy();
  }
}
