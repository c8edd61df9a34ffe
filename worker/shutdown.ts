// A worker's SIGTERM: stop intake, drain the WAL into PostgreSQL, and when the WAL goes with the pod
// (Ephemeral), spill what the drain could not store to the bucket (spill.ts) before the grace period ends.
// stop-decide.ts decides each step; this file only runs them. The budgets come from api/shutdown.ts, which
// also gives the operator the pod's grace period.

import type { Logger } from '../common/logger.ts';
import type { FlusherPool } from './flusher.ts';
import type { WalSpiller } from './spill.ts';
import { type StopAction, stopAction } from './stop-decide.ts';
import type { Claim, Wal } from './wal.ts';

const POLL_MS = 100;
/** How long a write still waiting for PostgreSQL may run before it is cut, once the worker spills. */
const CUT_WRITES_MS = 1_000;

export interface StopParts {
  receiver: { stop(): Promise<void> } | undefined;
  pool: FlusherPool<Claim> | undefined;
  wal: Wal | undefined;
  /** Set when the WAL goes with the pod and there is a bucket to spill to. */
  spiller: WalSpiller | undefined;
  /** The WAL directory is deleted with the pod (an emptyDir): what stays in it is lost. */
  walLostWithPod: boolean;
  log: Logger;
}

/** Runs the stop; `drainDeadline` ends the drain, `spillDeadline` the spill (both epoch ms). */
export async function stopIntakeAndEmptyWal(
  parts: StopParts,
  drainDeadline: number,
  spillDeadline: number,
): Promise<void> {
  const { receiver, pool, wal, spiller, log } = parts;
  await receiver?.stop();
  if (!wal || !pool) return;
  const draining = pool.drain(drainDeadline);
  let action: StopAction;
  let last = wal.messages;
  let lastProgressAt = Date.now();
  for (;;) {
    const now = Date.now();
    if (wal.messages < last) lastProgressAt = now;
    last = wal.messages;
    action = stopAction({ now, walMessages: last, drainDeadline, lastProgressAt, canSpill: spiller !== undefined });
    if (action !== 'drain') break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  if (action === 'spill' && spiller) {
    log.info(
      { messages: wal.messages, bytes: wal.bytes, stalledMs: Date.now() - lastProgressAt },
      'spilling the rest of the WAL to the bucket: it is deleted with this pod',
    );
    // Writes still waiting for PostgreSQL are cut and their records handed back, so the spill can take them.
    await pool.stop(CUT_WRITES_MS);
    const r = await spiller.spill(wal, spillDeadline);
    log.info({ ...r, left: wal.messages }, 'spill finished');
  } else {
    // Writes still waiting past the deadline (a locked table) are cut: the pod's SIGKILL is near.
    await pool.stop(Math.max(0, drainDeadline - Date.now()));
  }
  await draining;
  const left = wal.messages;
  if (left === 0)
    log.info(
      action === 'spill'
        ? 'stopped: every acknowledged message is committed or spilled'
        : 'drained: every acknowledged message is committed',
    );
  else if (parts.walLostWithPod)
    log.error(
      { messages: left, bytes: wal.bytes },
      spiller
        ? 'acknowledged messages neither stored nor spilled before the grace period ended (PostgreSQL and the bucket both failed): they are lost with this pod'
        : 'acknowledged messages not stored before the grace period ended are lost with this pod: an Ephemeral WAL spills only with spec.deadLetter.s3 set',
    );
  else log.warn({ messages: left }, 'drain deadline reached; the rest stays in the WAL and is flushed on restart');
}
