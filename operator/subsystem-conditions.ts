// The pipeline's conditions per subsystem, beside Ready/Progressing/Degraded: BrokerConnected,
// DatabaseWritable, DeadLetterStoreAvailable, Backpressure and Paused (docs/conditions.md has the table for
// users). Pure: from the health reports of the worker pods (api/worker-health.ts, polled by
// operator/worker-health.ts) and the spec; status.ts puts them in the status. Messages name the fix and hold
// no figure that moves on every poll, so a steady state writes no status.

import type { Condition } from '../api/types.ts';
import type { WorkerHealthReport } from '../api/worker-health.ts';

/** What one worker pod answered on its health port, or why it did not. */
export interface WorkerHealth {
  pod: string;
  report?: WorkerHealthReport;
  error?: string;
}

export interface SubsystemInput {
  generation: number;
  paused: boolean;
  /** Worker pods the workload wants (0: none runs, nothing to report). */
  workersDesired: number;
  /** The last poll of the worker pods; undefined: not polled yet. */
  health: WorkerHealth[] | undefined;
  now: number;
}

export const SUBSYSTEM_CONDITIONS = [
  'BrokerConnected',
  'DatabaseWritable',
  'DeadLetterStoreAvailable',
  'Backpressure',
  'Paused',
] as const;

/** How long BrokerConnected says SessionLost after the broker lost a worker's session. */
export const SESSION_LOST_WINDOW_MS = 60 * 60_000;
/** The share of spec.wal.sizeLimit from which Backpressure warns (WalNearLimit). */
export const WAL_NEAR_LIMIT = 0.8;

type Cond = Omit<Condition, 'lastTransitionTime'>;

/** A condition's state that needs the user's attention (a Warning Event, the alert-worthy side). */
export function isTrouble(c: Pick<Condition, 'type' | 'status' | 'reason'>): boolean {
  switch (c.type) {
    case 'BrokerConnected':
      return c.status === 'False' || c.reason === 'SessionLost';
    case 'DatabaseWritable':
    case 'DeadLetterStoreAvailable':
      return c.status === 'False';
    case 'Backpressure':
      return c.status === 'True' || c.reason === 'WalNearLimit';
    default:
      return false;
  }
}

/**
 * The Event a change of a subsystem condition deserves: a Warning on trouble, Normal when trouble ends, none
 * for a condition that appears healthy or turns Unknown (a worker starting) — those would repeat for nothing.
 */
export function subsystemEvent(
  next: Pick<Condition, 'type' | 'status' | 'reason'>,
  previous: Pick<Condition, 'type' | 'status' | 'reason'> | undefined,
): 'Normal' | 'Warning' | undefined {
  if (next.status === 'Unknown') return undefined;
  if (isTrouble(next)) return 'Warning';
  if (next.type === 'Paused') return previous ? 'Normal' : next.status === 'True' ? 'Normal' : undefined;
  return previous && isTrouble(previous) ? 'Normal' : undefined;
}

const pods = (hs: WorkerHealth[]) => {
  const names = hs.map((h) => h.pod).sort();
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
};
const unique = (xs: string[]) => [...new Set(xs)].sort().join(', ');

/** The conditions per subsystem, in SUBSYSTEM_CONDITIONS order. */
export function subsystemConditions(i: SubsystemInput): Cond[] {
  const g = i.generation;
  const c = (type: string, status: Cond['status'], reason: string, message: string): Cond => ({
    type,
    status,
    reason,
    message,
    observedGeneration: g,
  });
  const answered = (i.health ?? []).filter((h): h is WorkerHealth & { report: WorkerHealthReport } => !!h.report);
  const paused = pausedCondition(i, answered, c);
  if (answered.length === 0) {
    const [reason, message] =
      i.workersDesired === 0
        ? ['NoWorkers', 'no worker pod runs (spec.replicas is 0), so no subsystem is in use']
        : [
            'NoReport',
            // The same text before the first poll and while no pod runs: no status write for the difference.
            `no worker pod has answered on its health port yet${i.health?.length ? ` (${unique(i.health.map((h) => h.error ?? 'no answer'))})` : ''}; the conditions follow once one does`,
          ];
    return [...SUBSYSTEM_CONDITIONS.slice(0, 4).map((t) => c(t, 'Unknown', reason, message)), paused];
  }
  return [
    broker(answered, i.now, c),
    database(answered, c),
    deadLetters(answered, c),
    backpressure(answered, c),
    paused,
  ];
}

type Reported = WorkerHealth & { report: WorkerHealthReport };
type Make = (type: string, status: Cond['status'], reason: string, message: string) => Cond;

function broker(hs: Reported[], now: number, c: Make): Cond {
  const urls = unique(hs.map((h) => h.report.broker.url));
  const down = hs.filter((h) => !h.report.broker.connected);
  if (down.length > 0) {
    const errors = unique(down.map((h) => h.report.broker.lastError ?? 'not connected'));
    return c(
      'BrokerConnected',
      'False',
      'Disconnected',
      `${down.length}/${hs.length} workers (${pods(down)}) are not connected to ${unique(down.map((h) => h.report.broker.url))}: ${errors}; check that the broker runs and that spec.source.brokers, auth and tls are right. The workers reconnect with backoff; the broker keeps their sessions meanwhile`,
    );
  }
  const lost = hs.filter((h) => {
    const at = h.report.broker.sessionLost ? Date.parse(h.report.broker.sessionLost.lastAt) : Number.NaN;
    return now - at < SESSION_LOST_WINDOW_MS;
  });
  if (lost.length > 0) {
    const last = lost
      .map((h) => h.report.broker.sessionLost?.lastAt ?? '')
      .sort()
      .at(-1);
    return c(
      'BrokerConnected',
      'True',
      'SessionLost',
      `connected, but ${unique(lost.map((h) => h.report.broker.url))} lost the session of ${pods(lost)} (last at ${last}): messages it held for them while they were disconnected may be lost upstream. Give the broker persistence and a maximum session expiry of at least spec.source.sessionExpiry (docs/brokers.md)`,
    );
  }
  return c('BrokerConnected', 'True', 'Connected', `${hs.length} workers connected to ${urls}`);
}

/** PostgreSQL's SQLSTATE classes the worker can meet on a write. */
const CLASSES: Record<string, string> = {
  '08': 'connection exception',
  '22': 'data exception',
  '23': 'integrity constraint violation',
  '25': 'invalid transaction state',
  '28': 'invalid authorization',
  '40': 'transaction rollback',
  '42': 'syntax error or access rule violation',
  '53': 'insufficient resources',
  '54': 'program limit exceeded',
  '55': 'object not in prerequisite state',
  '57': 'operator intervention',
  '58': 'system error',
  XX: 'internal error',
};

const REASONS: Record<string, string> = {
  '23514': 'MissingPartition',
  '23502': 'SchemaDrift',
  '42804': 'SchemaDrift',
  '42703': 'UndefinedColumn',
  '42P01': 'UndefinedTable',
  '42501': 'InsufficientPrivilege',
  '53100': 'DiskFull',
  '53200': 'OutOfMemory',
  '53300': 'TooManyConnections',
  '54001': 'StackDepthExceeded',
  '57014': 'StatementTimeout',
  '57P01': 'ServerUnavailable',
  '57P02': 'ServerUnavailable',
  '57P03': 'ServerUnavailable',
  '25006': 'ReadOnlyServer',
  '55P03': 'LockNotAvailable',
  '40001': 'TransactionConflict',
  '40P01': 'TransactionConflict',
};

const isSqlstate = (code: string) => /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('E');

/** The DatabaseWritable reason for what blocks writes: a SQLSTATE, a socket error or "unknown". */
export function blockReason(code: string): string {
  if (!isSqlstate(code) || code.startsWith('08')) return 'ConnectionFailed';
  return REASONS[code] ?? 'WriteRefused';
}

/** "SQLSTATE 23514 (class 23, integrity constraint violation)", or the socket error as it is. */
export function describeCode(code: string): string {
  if (!isSqlstate(code)) return code;
  const cls = code.slice(0, 2);
  return `SQLSTATE ${code} (class ${cls}${CLASSES[cls] ? `, ${CLASSES[cls]}` : ''})`;
}

function database(hs: Reported[], c: Make): Cond {
  const blocked = hs.filter((h) => h.report.database.blocked);
  if (blocked.length > 0) {
    // The most common block first: one table problem usually blocks every worker the same way.
    const byCode = new Map<string, Reported[]>();
    for (const h of blocked) {
      const code = h.report.database.blocked?.code ?? 'unknown';
      byCode.set(code, [...(byCode.get(code) ?? []), h]);
    }
    const [code, which] = [...byCode].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))[0] as [
      string,
      Reported[],
    ];
    const b = which[0]?.report.database.blocked;
    return c(
      'DatabaseWritable',
      'False',
      blockReason(code),
      `writes from ${pods(which)} fail with ${describeCode(code)}: ${b?.message}; ${b?.fix}. Rows wait in the WAL and are retried with backoff; none is dead-lettered for it`,
    );
  }
  const waiting = hs.filter((h) => h.report.database.waitingForStartup);
  if (waiting.length > 0) {
    return c(
      'DatabaseWritable',
      'False',
      'StartupCheckPending',
      `${pods(waiting)} wait for PostgreSQL's startup check: ${unique(waiting.map((h) => h.report.database.waitingForStartup ?? ''))}. Messages are taken into the WAL meanwhile`,
    );
  }
  const failing = hs.filter((h) => !h.report.database.writable);
  if (failing.length > 0) {
    const problems = unique(
      failing.map((h) => (h.report.database.problem ?? 'writes fail').replace(/waited \d+ s/, 'waited over 10 s')),
    );
    return c(
      'DatabaseWritable',
      'False',
      'WritesFailing',
      `writes from ${pods(failing)} fail or hang: ${problems}. Check that PostgreSQL (and PgBouncer) run and answer; rows wait in the WAL meanwhile`,
    );
  }
  return c('DatabaseWritable', 'True', 'Writable', `the last write of each of ${hs.length} workers committed`);
}

function deadLetters(hs: Reported[], c: Make): Cond {
  const configured = hs.filter((h) => h.report.deadLetters.configured);
  if (configured.length === 0) {
    return c(
      'DeadLetterStoreAvailable',
      'True',
      'NotConfigured',
      'no spec.deadLetter bucket: rows PostgreSQL rejects go to the unparseable table',
    );
  }
  const down = configured.filter((h) => !h.report.deadLetters.available);
  const target = unique(configured.map((h) => h.report.deadLetters.target ?? ''));
  if (down.length > 0) {
    const pending = down.filter((h) => h.report.deadLetters.pending > 0);
    return c(
      'DeadLetterStoreAvailable',
      'False',
      pending.length > 0 ? 'PendingInWal' : 'Unreachable',
      `${target} does not answer ${pods(down)}: ${unique(down.map((h) => h.report.deadLetters.lastError ?? 'unknown error'))}. ${
        pending.length > 0
          ? `Rows PostgreSQL rejected wait in the WAL of ${pods(pending)} (they count against spec.wal.sizeLimit) and are stored once it answers; the other rows flow. `
          : 'Nothing waits for it yet; a rejected row would wait in the WAL. '
      }Check that the S3 endpoint runs and spec.deadLetter.s3 (endpoint, bucket, credentials)`,
    );
  }
  return c('DeadLetterStoreAvailable', 'True', 'Available', `${target} answers`);
}

const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;

function backpressure(hs: Reported[], c: Make): Cond {
  const full = hs.filter((h) => h.report.wal.backpressure);
  if (full.length > 0) {
    const volume = full.some((h) => h.report.wal.volumeLow);
    return c(
      'Backpressure',
      'True',
      volume ? 'WalVolumeLow' : 'WalFull',
      `${pods(full)} stopped reading from the broker (${unique(full.map((h) => h.report.wal.reason ?? 'WAL full'))}); the broker holds new messages. The WAL drains as PostgreSQL takes rows: fix what DatabaseWritable reports${volume ? ', or give the WAL volume more space' : ', or raise spec.wal.sizeLimit'}`,
    );
  }
  const near = hs.filter(
    (h) => h.report.wal.sizeLimitBytes > 0 && h.report.wal.bytes >= WAL_NEAR_LIMIT * h.report.wal.sizeLimitBytes,
  );
  if (near.length > 0) {
    return c(
      'Backpressure',
      'False',
      'WalNearLimit',
      `the WAL of ${pods(near)} is over ${WAL_NEAR_LIMIT * 100}% of spec.wal.sizeLimit (${unique(near.map((h) => mib(h.report.wal.sizeLimitBytes)))}): at the limit the worker stops reading from the broker. PostgreSQL takes rows slower than they arrive: check DatabaseWritable, add flushers or workers, or raise spec.wal.sizeLimit`,
    );
  }
  return c('Backpressure', 'False', 'WalHasRoom', `every WAL is below ${WAL_NEAR_LIMIT * 100}% of spec.wal.sizeLimit`);
}

function pausedCondition(i: SubsystemInput, hs: Reported[], c: Make): Cond {
  if (!i.paused) return c('Paused', 'False', 'NotPaused', 'spec.paused is false: the workers take messages');
  const busy = hs.filter((h) => !h.report.paused || h.report.wal.messages > 0);
  if (busy.length > 0 || (hs.length === 0 && i.workersDesired > 0)) {
    return c(
      'Paused',
      'True',
      'Draining',
      `spec.paused: the workers read nothing from the broker, which keeps new messages in their sessions, and drain their WAL into PostgreSQL${busy.length ? ` (${pods(busy)} not drained yet)` : ''}; set spec.paused false to resume`,
    );
  }
  return c(
    'Paused',
    'True',
    'Drained',
    'spec.paused: the workers read nothing from the broker, which keeps new messages in their sessions; every acknowledged message is committed. Set spec.paused false to resume',
  );
}
