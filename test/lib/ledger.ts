// Where every message of a load run ended up: the telemetry table, the unparseable table or the DLQ
// bucket. Ids are "<runId>-<n>" (see worker/loadgen.ts), found in JSON payloads or raw payload text.

import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { requireEnv } from './env.ts';
import { eventually } from './eventually.ts';
import type { PipelineTarget } from './pipelines.ts';

export interface DeadLetterLine {
  topic: string;
  payload: string;
  sqlstate: string | null;
  error: string;
  attempts: number;
  receivedAt: string;
}

export interface Ledger {
  telemetry: Map<string, number>;
  unparseable: Map<string, { count: number; reason: string }>;
  deadLetters: Map<string, { count: number; line: DeadLetterLine }>;
}

export function s3Client(): S3Client {
  return new S3Client({
    endpoint: requireEnv('S3_ENDPOINT'),
    region: requireEnv('S3_REGION'),
    forcePathStyle: true,
    credentials: { accessKeyId: requireEnv('S3_ACCESS_KEY_ID'), secretAccessKey: requireEnv('S3_SECRET_ACCESS_KEY') },
  });
}

export async function withDb<T>(f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

export async function readDeadLetters(p: PipelineTarget): Promise<DeadLetterLine[]> {
  const s3 = s3Client();
  const bucket = requireEnv('S3_BUCKET');
  const lines: DeadLetterLine[] = [];
  try {
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: p.dlqPrefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
        const text = await (obj.Body as { transformToString(): Promise<string> }).transformToString();
        for (const l of text.split('\n')) if (l) lines.push(JSON.parse(l));
      }
      token = page.NextContinuationToken;
    } while (token);
  } finally {
    s3.destroy();
  }
  return lines;
}

export async function ledger(p: PipelineTarget, runId: string): Promise<Ledger> {
  const idRe = new RegExp(`${runId}-\\d+`);
  const l: Ledger = { telemetry: new Map(), unparseable: new Map(), deadLetters: new Map() };
  await withDb(async (c) => {
    const t = await c.query<{ id: string; n: string }>(
      `SELECT payload->>'id' AS id, count(*) AS n FROM "${p.table}" WHERE payload->>'run' = $1 GROUP BY 1`,
      [runId],
    );
    for (const r of t.rows) l.telemetry.set(r.id, Number(r.n));
    const u = await c.query<{ payload: Buffer; reason: string }>(`SELECT payload, reason FROM "${p.unparseableTable}"`);
    for (const r of u.rows) {
      const id = idRe.exec(r.payload.toString('utf8'))?.[0];
      if (!id) continue;
      const prev = l.unparseable.get(id);
      l.unparseable.set(id, { count: (prev?.count ?? 0) + 1, reason: r.reason });
    }
  });
  for (const line of await readDeadLetters(p)) {
    const id = idRe.exec(Buffer.from(line.payload, 'base64').toString('utf8'))?.[0];
    if (!id) continue;
    const prev = l.deadLetters.get(id);
    l.deadLetters.set(id, { count: (prev?.count ?? 0) + 1, line });
  }
  return l;
}

export interface Accounting {
  missing: string[];
  /** Extra copies beyond the first, across all destinations. */
  duplicates: number;
  /** Ids found in more than one destination (must never happen). */
  inSeveral: string[];
}

export function account(l: Ledger, runId: string, count: number): Accounting {
  const missing: string[] = [];
  const inSeveral: string[] = [];
  let duplicates = 0;
  for (let n = 0; n < count; n++) {
    const id = `${runId}-${n}`;
    const t = l.telemetry.get(id) ?? 0;
    const u = l.unparseable.get(id)?.count ?? 0;
    const d = l.deadLetters.get(id)?.count ?? 0;
    const places = (t > 0 ? 1 : 0) + (u > 0 ? 1 : 0) + (d > 0 ? 1 : 0);
    if (places === 0) missing.push(id);
    if (places > 1) inSeveral.push(id);
    duplicates += Math.max(0, t + u + d - 1);
  }
  return { missing, duplicates, inSeveral };
}

/** Waits until every message of run `runId` is in one of the pipeline's places; returns the accounting. */
export function allStored(p: PipelineTarget, runId: string, count: number, timeoutMs = 120_000): Promise<Accounting> {
  return eventually(
    async () => {
      const a = account(await ledger(p, runId), runId, count);
      if (a.missing.length > 0)
        throw new Error(
          `${a.missing.length} of ${count} ids not (yet) stored, e.g. ${a.missing.slice(0, 3).join(', ')}`,
        );
      return a;
    },
    { timeoutMs, intervalMs: 500, what: `all ${count} messages of run ${runId} stored` },
  );
}
