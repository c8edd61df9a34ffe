// `mqtt2pg replay` wired: the pipeline and its Secrets (as the worker loads them), the route logic, one
// PostgreSQL connection, and the source: the dead-letter bucket, or the unparseable table (replay.ts decides
// what is stored, kept and deleted).

import type { ResolvedPipeline } from '../api/defaults.ts';
import { pgClientConfig, s3ClientConfig } from '../common/client-options.ts';
import { createLogger } from '../common/logger.ts';
import type { SecretsDir } from '../common/secrets-dir.ts';
import { DeadLetterSource, parseS3Url } from './dead-letter-source.ts';
import { S3DeadLetterStore } from './deadletter.ts';
import type { InboundMessage } from './message.ts';
import { RoutePartitions } from './partition-wiring.ts';
import { PgSink } from './pg-sink.ts';
import { emptySummary, type ReplaySummary, replayDeadLetters, replayUnparseable } from './replay.ts';
import { rowBuilder } from './routing.ts';
import type { Row } from './rows.ts';
import { qualified } from './sql.ts';
import { loadPipelineAndSecrets } from './wiring.ts';

export interface ReplayArgs {
  file: string;
  name?: string;
  secretsDir: string;
  /** s3://BUCKET/PREFIX; defaults to the pipeline's own dead letters. */
  from?: string;
  /** Replay rows of the unparseable table instead of dead letters. */
  unparseable?: boolean;
  /** With `unparseable`: only rows with these reasons. */
  reasons?: string[];
  dryRun: boolean;
  /** Unparseable rows per transaction. */
  pageSize?: number;
  onProgress?: (s: ReplaySummary, total: number | undefined) => void;
}

/** The route logic the worker's flushers apply: messages → rows (unparseable ones included). */
export function routeRows(p: ResolvedPipeline, partitions: RoutePartitions): (messages: InboundMessage[]) => Row[] {
  const build = partitions.check(rowBuilder(p.routes, p.sink.payloadFormat, p.limits));
  return (messages) => messages.map(build);
}

export class ReplayError extends Error {
  override name = 'ReplayError';
}

/** The dead letters of the pipeline's own bucket and prefix: s3://BUCKET/<prefix><pipeline>/. */
export const defaultSource = (p: ResolvedPipeline, d: NonNullable<ResolvedPipeline['deadLetter']>) =>
  `s3://${d.bucket}/${d.prefix}${p.name}/`;

export async function runReplay(
  args: ReplayArgs,
): Promise<{ summary: ReplaySummary; exitCode: number } | { exitCode: number }> {
  const loaded = loadPipelineAndSecrets('replay', args.file, args.name, args.secretsDir);
  if ('exitCode' in loaded) return loaded;
  const { p, secrets } = loaded;
  const started = performance.now();
  const summary = emptySummary(args.dryRun);
  const sink = new PgSink(pgClientConfig(p, secrets, 'replay'), {
    ...p.sink,
    statementTimeoutMs: p.sink.postgres.statementTimeoutMs,
    routes: p.routes.filter((r) => !r.builtIn),
  });
  // Rows outside the partitions go to the unparseable table, as in the worker; the partitions are read once.
  const partitions = new RoutePartitions(p, secrets, createLogger('warn', { command: 'replay' }, 2));
  try {
    await partitions.runOnce();
    const context = { p, secrets, sink, toRows: routeRows(p, partitions), args, s: summary };
    await (args.unparseable ? fromUnparseable(context) : fromDeadLetters(context));
  } finally {
    summary.seconds = Math.round((performance.now() - started) / 100) / 10;
    await sink.close();
  }
  return { summary, exitCode: summary.stillRejected > 0 || summary.badLines > 0 ? 3 : 0 };
}

/** What both sources replay with. */
interface ReplayContext {
  p: ResolvedPipeline;
  secrets: SecretsDir;
  sink: PgSink;
  toRows: (messages: InboundMessage[]) => Row[];
  args: ReplayArgs;
  s: ReplaySummary;
}

async function fromDeadLetters({ p, secrets, sink, toRows, args, s }: ReplayContext): Promise<void> {
  const d = p.deadLetter;
  if (!d)
    throw new ReplayError(
      'the pipeline has no spec.deadLetter: there are no dead letters to replay, and replay reads a bucket with its endpoint and credentials; add it, or use --unparseable for the unparseable table',
    );
  let where: { bucket: string; prefix: string };
  try {
    where = parseS3Url(args.from ?? defaultSource(p, d));
  } catch (err) {
    throw new ReplayError(`--from: ${(err as Error).message}`);
  }
  const config = s3ClientConfig(p, secrets);
  const source = new DeadLetterSource(config, where.bucket);
  // Letters PostgreSQL still rejects go where the worker puts new ones.
  const store = new S3DeadLetterStore(config, { pipeline: p.name, bucket: d.bucket, prefix: d.prefix });
  try {
    const objects = await source.list(where.prefix);
    args.onProgress?.(s, objects.length);
    for (const o of objects) {
      const letters = await source.read(o.key);
      await replayDeadLetters(
        { key: o.key, messages: letters.messages, attempts: letters.attempts, badLines: letters.badLines.length },
        { toRows, sink, store, deleteObject: (k) => source.delete(k), dryRun: args.dryRun },
        s,
      );
      args.onProgress?.(s, objects.length);
    }
  } finally {
    source.close();
    store.close();
  }
}

async function fromUnparseable({ p, secrets, sink, toRows, args, s }: ReplayContext): Promise<void> {
  const table = qualified(p.sink.schema, p.sink.unparseableTable);
  const reasons = args.reasons && args.reasons.length > 0 ? args.reasons : undefined;
  const pageSize = args.pageSize ?? 1000;
  const { default: pg } = await import('pg');
  const reader = new pg.Client(pgClientConfig(p, secrets, 'replay'));
  reader.on('error', () => {});
  await reader.connect();
  try {
    const { rows: counted } = await reader.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${table} ${reasons ? 'WHERE reason = ANY($1::text[])' : ''}`,
      reasons ? [reasons] : [],
    );
    const total = Number(counted[0]?.n ?? 0);
    args.onProgress?.(s, total);
    let after = '0';
    for (;;) {
      const { rows } = await reader.query<{ id: string; topic: string; payload: Buffer; received_at: Date }>(
        `SELECT id::text, topic, payload, received_at FROM ${table}
          WHERE id > $1 ${reasons ? 'AND reason = ANY($3::text[])' : ''} ORDER BY id LIMIT $2`,
        [after, pageSize, ...(reasons ? [reasons] : [])],
      );
      if (rows.length === 0) return;
      after = (rows[rows.length - 1] as { id: string }).id;
      const ids = new Map<InboundMessage, string>();
      const messages = rows.map((r) => {
        const m: InboundMessage = {
          topic: r.topic,
          payload: r.payload,
          receivedAt: r.received_at.getTime(),
          qos: 1,
          dup: false,
        };
        ids.set(m, r.id);
        return m;
      });
      await replayUnparseable(
        { ids, messages },
        {
          toRows,
          sink,
          deleteRows: async (client, list) => {
            await client.query(`DELETE FROM ${table} WHERE id = ANY($1::bigint[])`, [list]);
          },
          dryRun: args.dryRun,
        },
        s,
      );
      args.onProgress?.(s, total);
    }
  } finally {
    await reader.end().catch(() => {});
  }
}
