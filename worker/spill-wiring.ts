// The spill side of a worker whose WAL goes with its pod (api/shutdown.ts spills): the bucket client, the
// writer a stopping worker uses (spill.ts), and the replayer every worker runs (spill-replay.ts).

import type { ResolvedPipeline } from '../api/defaults.ts';
import { s3ClientConfig } from '../common/client-options.ts';
import type { Logger } from '../common/logger.ts';
import type { SecretsDir } from '../common/secrets-dir.ts';
import type { WorkerMetrics } from './metrics.ts';
import { WalSpiller } from './spill.ts';
import { SpillReplayer } from './spill-replay.ts';
import type { Wal } from './wal.ts';

/** How often a worker looks for spill objects to replay (it also looks once at start). */
export const REPLAY_INTERVAL_MS = 30_000;

export interface SpillParts {
  spiller: WalSpiller;
  replayer: SpillReplayer;
  close(): void;
}

export async function openSpill(
  p: ResolvedPipeline,
  secrets: SecretsDir,
  deps: { instance: string; wal: Wal; metrics: WorkerMetrics; log: Logger },
): Promise<SpillParts | undefined> {
  const d = p.deadLetter;
  if (!d) return undefined;
  // The AWS SDK is loaded only by pipelines that use a bucket.
  const { SpillStore } = await import('./spill-store.ts');
  const store = new SpillStore(s3ClientConfig(p, secrets), d.bucket);
  const place = { prefix: d.prefix, pipeline: p.name, instance: deps.instance };
  const replayer = new SpillReplayer(store, place, deps);
  replayer.start(REPLAY_INTERVAL_MS);
  return { spiller: new WalSpiller(store, place, deps), replayer, close: () => store.close() };
}
