// Spilling a stopping worker's WAL to the bucket (an Ephemeral WAL is deleted with its pod): claim the
// oldest records, write them as one spill object, and delete them from the WAL only after the PUT
// succeeded. Two uploads run at once. A failed PUT hands the records back and is retried until the deadline;
// what is still in the WAL then is what the caller reports as lost.

import type { Logger } from '../common/logger.ts';
import type { WorkerMetrics } from './metrics.ts';
import { encodeSpill, spillKey } from './spill-format.ts';
import type { SpillStore } from './spill-store.ts';
import type { Claim, Wal } from './wal.ts';

/** WAL bytes per spill object: big enough to keep the PUT count low, small enough to retry cheaply. */
const OBJECT_WAL_BYTES = 8 * 2 ** 20;
const UPLOADS = 2;
const RETRY_MS = 500;

export interface SpillPlace {
  prefix: string;
  pipeline: string;
  instance: string;
}

export interface SpillResult {
  messages: number;
  objects: number;
  failures: number;
}

export class WalSpiller {
  private readonly store: SpillStore;
  private readonly place: SpillPlace;
  private readonly metrics: WorkerMetrics;
  private readonly log: Logger;
  private n = 0;

  constructor(store: SpillStore, place: SpillPlace, deps: { metrics: WorkerMetrics; log: Logger }) {
    this.store = store;
    this.place = place;
    this.metrics = deps.metrics;
    this.log = deps.log;
  }

  /** Spills everything the WAL holds and nobody has claimed, until it is empty or `deadline` (epoch ms) passes. */
  async spill(wal: Wal, deadline: number): Promise<SpillResult> {
    const result: SpillResult = { messages: 0, objects: 0, failures: 0 };
    const upload = async () => {
      while (Date.now() < deadline) {
        const perMessage = wal.messages > 0 ? wal.bytes / wal.messages : 1;
        const claim = await wal.claim(Math.max(1, Math.floor(OBJECT_WAL_BYTES / perMessage)));
        if (!claim) return;
        if (!(await this.putOne(wal, claim, deadline, result))) {
          result.failures++;
          await new Promise((r) => setTimeout(r, Math.min(RETRY_MS, Math.max(0, deadline - Date.now()))));
        }
      }
    };
    await Promise.all(Array.from({ length: UPLOADS }, upload));
    return result;
  }

  private async putOne(wal: Wal, claim: Claim, deadline: number, result: SpillResult): Promise<boolean> {
    const { prefix, pipeline, instance } = this.place;
    const key = spillKey(prefix, pipeline, instance, new Date(), this.n++);
    try {
      const body = await encodeSpill({ instance, messages: claim.messages });
      await this.store.put(key, body, AbortSignal.timeout(Math.max(1, deadline - Date.now())));
      // Only now may the records go: the object holds them.
      await wal.commit(claim);
      result.messages += claim.messages.length;
      result.objects++;
      this.metrics.spilled.inc(claim.messages.length);
      this.log.info({ key, messages: claim.messages.length, bytes: body.length }, 'spilled WAL records to the bucket');
      return true;
    } catch (err) {
      wal.release(claim);
      this.log.warn(
        { err: (err as Error).message, bucket: this.store.bucket, key },
        'spilling WAL records to the bucket failed; retrying until the grace period ends',
      );
      return false;
    }
  }
}
