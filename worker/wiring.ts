// The parts of a worker's wiring `mqtt2pg drain` shares: the pipeline and its Secrets, and the flush side
// (the WAL, the dead-letter store, the flusher pool writing to PostgreSQL). `mqtt2pg worker` (main.ts) and
// `mqtt2pg drain` (drain.ts) build them the same way, so a drained WAL lands in the same rows, unparseable
// rows and dead letters a worker would write.

import { mkdirSync } from 'node:fs';
import type { ResolvedPipeline } from '../api/defaults.ts';
import { loadSinglePipeline } from '../api/load-pipeline.ts';
import { workerSecretReferences } from '../api/secret-refs.ts';
import { pgClientConfig, s3ClientConfig } from '../common/client-options.ts';
import type { Logger } from '../common/logger.ts';
import { SecretsDir } from '../common/secrets-dir.ts';
import type { S3DeadLetterStore } from './deadletter.ts';
import { FlusherPool } from './flusher.ts';
import type { WorkerMetrics } from './metrics.ts';
import type { RoutePartitions } from './partition-wiring.ts';
import { PgSink } from './pg-sink.ts';
import { rowBuilder } from './routing.ts';
import { type Claim, Wal } from './wal.ts';
import { releaseReserveFile, watchVolume } from './wal-volume.ts';

/** Startup failures the user must fix: printed as one clear line, exit 1, nothing acknowledged. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * The pipeline of `file` (`name` when it holds several) and its Secrets, every referenced one present; or,
 * printed as `mqtt2pg <command>: ...` on stderr, the exit code: 2 for a pipeline file to fix, 1 for Secrets.
 */
export function loadPipelineAndSecrets(
  command: string,
  file: string,
  name: string | undefined,
  secretsDir: string,
): { p: ResolvedPipeline; secrets: SecretsDir } | { exitCode: number } {
  let p: ResolvedPipeline;
  try {
    p = loadSinglePipeline(file, name).resolved;
  } catch (err) {
    console.error(`mqtt2pg ${command}: ${(err as Error).message}`);
    return { exitCode: 2 };
  }
  const secrets = new SecretsDir(secretsDir);
  const missing = secrets.missing(workerSecretReferences(p));
  if (missing.length > 0) {
    console.error(`mqtt2pg ${command}: ${missing.join('\n')}`);
    return { exitCode: 1 };
  }
  return { p, secrets };
}

/** The pipeline's dead-letter store, checked (bucket reachable); none when the pipeline has no DLQ. */
export async function openDeadLetters(
  p: ResolvedPipeline,
  secrets: SecretsDir,
): Promise<S3DeadLetterStore | undefined> {
  if (!p.deadLetter) return undefined;
  // The AWS SDK is loaded only by pipelines that dead-letter to S3.
  const { S3DeadLetterStore } = await import('./deadletter.ts');
  const store = new S3DeadLetterStore(s3ClientConfig(p, secrets), {
    pipeline: p.name,
    bucket: p.deadLetter.bucket,
    prefix: p.deadLetter.prefix,
  });
  try {
    await store.check();
  } catch (err) {
    store.close();
    throw new StartupError(`dead-letter store: ${(err as Error).message}`);
  }
  return store;
}

/**
 * Opens the pipeline's WAL, after deleting the reserve file so that LevelDB has room to open and drain even
 * on a volume that filled; with `watch`, free space is then watched (wal-volume.ts: reading stops below the
 * reserve, the reserve file is made again once there is room).
 */
export async function openWal(
  p: ResolvedPipeline,
  dir: string,
  watch?: { onError: (err: Error) => void },
): Promise<Wal> {
  mkdirSync(dir, { recursive: true });
  await releaseReserveFile(dir);
  const wal = await Wal.open({ dir, sizeLimitBytes: p.wal.sizeLimitBytes, retentionMs: p.wal.retentionMs });
  if (watch) await watchVolume(dir, wal, watch.onError);
  return wal;
}

/** Flushers from `wal` into the pipeline's table (one PgSink connection each); none running until setCount. */
export function flusherPool(
  p: ResolvedPipeline,
  secrets: SecretsDir,
  wal: Wal,
  deps: {
    deadLetters: S3DeadLetterStore | undefined;
    metrics: WorkerMetrics;
    log: Logger;
    /** The partitioned routes' maintainers: their rows are checked against the partitions before COPY. */
    partitions?: RoutePartitions;
  },
): FlusherPool<Claim> {
  const sinkConfig = pgClientConfig(p, secrets);
  const { partitions, ...rest } = deps;
  const build = rowBuilder(p.routes, p.sink.payloadFormat, p.limits);
  return new FlusherPool(
    {
      ...p.flusher,
      payloadFormat: p.sink.payloadFormat,
      limits: p.limits,
      toRow: partitions ? partitions.check(build) : build,
      ...(partitions?.maintainers.size ? { rowsReady: () => partitions.ready } : {}),
    },
    {
      source: wal,
      newSink: () =>
        new PgSink(sinkConfig, {
          ...p.sink,
          statementTimeoutMs: p.sink.postgres.statementTimeoutMs,
          routes: p.routes.filter((r) => !r.builtIn),
          duplicatesDropped: (route, rows) => deps.metrics.duplicatesDropped.inc({ route }, rows),
        }),
      ...rest,
    },
  );
}
