// What the worker does with what it did not plan for. An unhandled rejection or uncaught exception ends the
// process either way; this makes the last words one clear, logged line and a non-zero exit, so the pod's
// restart is explained in its log (every acknowledged message is in the WAL and is replayed on restart).
// And the WAL's own reports (entries moved aside, the volume low on space) as log lines worth attention.

import type { Logger } from '../common/logger.ts';
import type { Wal } from './wal.ts';
import type { Quarantined } from './wal-quarantine.ts';
import type { VolumeState } from './wal-volume.ts';
import { describeLow } from './wal-volume.ts';

let installed = false;

export function exitOnInternalError(log: Logger): void {
  if (installed) return;
  installed = true;
  const die = (kind: string) => (err: unknown) => {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log.fatal(
      { err: message, kind },
      'internal error: exiting (acknowledged messages stay in the WAL and replay on restart)',
    );
    console.error(`mqtt2pg worker: internal error (${kind}), exiting with status 70: ${message}\nPlease report it.`);
    process.exit(70);
  };
  process.on('unhandledRejection', die('unhandled rejection'));
  process.on('uncaughtException', die('uncaught exception'));
}

export function reportWalEvents(wal: Wal, log: Logger): void {
  const dir = wal.opts.dir;
  const q = wal.quarantine;
  if (q.records > 0) log.warn({ records: q.records, messages: q.messages, dir }, q.note);
  wal.on('quarantined', (q: Quarantined) =>
    log.error(
      { ...q, dir },
      'a damaged WAL record was moved aside (kept, never replayed); the records around it are delivered',
    ),
  );
  wal.on('volumeLow', (s: VolumeState) => log.error({ freeBytes: s.freeBytes, dir }, describeLow(s)));
  wal.on('volumeOk', (s: VolumeState) =>
    log.info({ freeBytes: s.freeBytes, dir }, 'the WAL volume has room again: reading from the broker resumes'),
  );
}
