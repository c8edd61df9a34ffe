// The spill objects' side of the pipeline's bucket (the dead-letter bucket and credentials): put, list, get
// and delete objects, and claim one for replay with a conditional PUT (If-None-Match: *), so two workers
// rarely replay the same object. See spill-format.ts for the keys.

import { createHash } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { claimKey } from './spill-format.ts';

export interface ClaimInfo {
  owner: string;
  ageMs: number;
}

const status = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

export class SpillStore {
  private readonly s3: S3Client;
  readonly bucket: string;
  /** Whether the store honours If-None-Match on PUT (S3 since 2024, MinIO, R2); learned from a 501. */
  private conditionalPuts = true;

  constructor(config: S3ClientConfig, bucket: string) {
    this.s3 = new S3Client(config);
    this.bucket = bucket;
  }

  /** Resolves once the object is stored; Content-MD5 makes the store reject a body damaged on the way. */
  async put(key: string, body: Buffer, signal?: AbortSignal): Promise<void> {
    const md5 = createHash('md5').update(body).digest('base64');
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentMD5: md5,
        ContentType: 'application/octet-stream',
      }),
      signal ? { abortSignal: signal } : {},
    );
  }

  /** Keys of the objects directly in `folder` (not its claims/), oldest name first. */
  async list(folder: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: folder, Delimiter: '/', ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.NextContinuationToken;
    } while (token);
    return keys.sort();
  }

  /** The object's bytes, or undefined when it is gone (another worker replayed it). */
  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const r = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /** Claims `key` for `owner`: true when this PUT created the claim, false when a claim already exists. */
  async claim(key: string, owner: string): Promise<boolean> {
    const put = (conditional: boolean) =>
      this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: claimKey(key),
          Body: owner,
          ...(conditional ? { IfNoneMatch: '*' } : {}),
          Metadata: { owner },
        }),
      );
    if (!this.conditionalPuts) {
      if (await this.claimInfo(key)) return false;
      await put(false);
      return true;
    }
    try {
      await put(true);
      return true;
    } catch (err) {
      // 412: the claim exists; 409: a concurrent conditional PUT of the same key is in progress.
      if (status(err) === 412 || status(err) === 409) return false;
      // A store without conditional writes: claims become check-then-put, and a race costs duplicates.
      if (status(err) === 501) {
        this.conditionalPuts = false;
        return this.claim(key, owner);
      }
      throw err;
    }
  }

  /** Who holds the claim on `key` and for how long; undefined when there is none. */
  async claimInfo(key: string, now = Date.now()): Promise<ClaimInfo | undefined> {
    try {
      const h = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: claimKey(key) }));
      return { owner: h.Metadata?.owner ?? '', ageMs: now - (h.LastModified?.getTime() ?? now) };
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw err;
    }
  }

  async release(key: string): Promise<void> {
    await this.delete(claimKey(key));
  }

  close(): void {
    this.s3.destroy();
  }
}
