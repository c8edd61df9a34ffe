// Free space on the WAL's volume. The WAL's size limit counts record bytes only; LevelDB's logs, tables and
// compactions need more, and a write that hits ENOSPC fails the log (the worker exits without acknowledging
// it) — and reopening LevelDB writes too, so a full volume used to crash-loop the pod. So:
// - the free space of the volume is watched (statfs), and below a reserve the WAL reports itself full: the
//   receiver stops reading (the broker holds the messages) while flushes commit and compaction gives space
//   back; it reads again above the reserve plus a margin (no flapping);
// - a reserve file is kept in the WAL directory and deleted before LevelDB opens, so a volume that filled
//   anyway still has room to open, replay and write the deletes that drain it; it is made again once there
//   is room for it above the reserve.
// The decisions are pure; the I/O is the watch below.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const MiB = 2 ** 20;
/** The file that holds room for LevelDB to open and drain on a volume that filled anyway. */
export const RESERVE_FILE = 'mqtt2pg-reserve';
/** Reading resumes once free space is this many times the reserve. */
const RESUME_FACTOR = 1.25;

export interface VolumeState {
  freeBytes: number;
  totalBytes: number;
  /** Below this much free space the receiver stops reading. */
  reserveBytes: number;
  low: boolean;
}

/**
 * 5% of the volume, at least 64 MiB (LevelDB's logs and one compaction's output fit), at most 1 GiB (a WAL on
 * a big shared disk, a laptop's) and never more than a quarter of the volume (a small test volume).
 */
export function reserveBytes(totalBytes: number): number {
  return Math.floor(Math.min(Math.max(64 * MiB, totalBytes * 0.05), 1024 * MiB, totalBytes * 0.25));
}

/** Size of the reserve file: enough for LevelDB to open (replay a log into a table) and write deletes. */
export function reserveFileBytes(totalBytes: number): number {
  return Math.floor(Math.min(16 * MiB, totalBytes * 0.1));
}

/** Whether the volume is low, with hysteresis: low below the reserve, low until free space is well above it. */
export function volumeState(freeBytes: number, totalBytes: number, wasLow: boolean): VolumeState {
  const reserve = reserveBytes(totalBytes);
  const low = wasLow ? freeBytes < reserve * RESUME_FACTOR : freeBytes < reserve;
  return { freeBytes, totalBytes, reserveBytes: reserve, low };
}

/** Whether there is room to make the reserve file again without going low. */
export function roomForReserveFile(s: VolumeState): boolean {
  return !s.low && s.freeBytes - reserveFileBytes(s.totalBytes) >= s.reserveBytes * RESUME_FACTOR;
}

export function describeLow(s: VolumeState): string {
  const mib = (n: number) => `${Math.round(n / MiB)} MiB`;
  return (
    `the WAL volume has ${mib(s.freeBytes)} free of ${mib(s.totalBytes)}, below its reserve of ${mib(s.reserveBytes)}: ` +
    'reading from the broker stopped until flushes free space (grow the volume, or free space on it)'
  );
}

async function measure(dir: string, wasLow: boolean): Promise<VolumeState> {
  const s = await statfs(dir);
  return volumeState(s.bavail * s.bsize, s.blocks * s.bsize, wasLow);
}

/** Bytes of the WAL directory's files, the reserve file left out (held room, not the log's). */
export function walDirBytes(dir: string): number {
  let total = 0;
  for (const f of readdirSync(dir)) {
    if (f === RESERVE_FILE) continue;
    try {
      total += statSync(join(dir, f)).size;
    } catch {
      // removed by LevelDB between the listing and the stat
    }
  }
  return total;
}

/** Deletes the reserve file before LevelDB opens: room to open and drain even on a volume that filled. */
export async function releaseReserveFile(dir: string): Promise<void> {
  await unlink(join(dir, RESERVE_FILE)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

export interface VolumeTarget {
  setVolume(state: VolumeState): void;
  readonly isClosed: boolean;
}

/**
 * Measures the volume now and then every `intervalMs` until the target closes, telling it the state; makes
 * the reserve file when there is room. A failed statfs or reserve write is reported (onError) and tried again.
 */
export async function watchVolume(
  dir: string,
  target: VolumeTarget,
  onError: (err: Error) => void,
  intervalMs = 1000,
): Promise<void> {
  let low = false;
  const file = join(dir, RESERVE_FILE);
  const check = async () => {
    const state = await measure(dir, low);
    low = state.low;
    target.setVolume(state);
    // Checked each time, not remembered: `mqtt2pg drain` refused on this directory has deleted it too.
    if (roomForReserveFile(state) && !existsSync(file)) {
      // Written, not sparse: the blocks must really be held for the day they are needed.
      await writeFile(file, Buffer.alloc(reserveFileBytes(state.totalBytes)), { flush: true });
    }
  };
  await check().catch(onError); // a volume that cannot be measured is reported, never a reason not to start
  const tick = () => {
    if (target.isClosed) return;
    check().then(
      () => setTimeout(tick, intervalMs).unref(),
      (err: Error) => {
        onError(err);
        setTimeout(tick, intervalMs).unref();
      },
    );
  };
  setTimeout(tick, intervalMs).unref();
}
