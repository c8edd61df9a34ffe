// The worker's health per subsystem (api/worker-health.ts), served on the health listener at
// HTTP_PATHS.subsystems: what the operator turns into the pipeline's conditions (docs/conditions.md).
// Assembled from what the parts already know; pure.

import type { WorkerHealthReport } from '../api/worker-health.ts';
import type { SinkBlock } from './pg-errors.ts';

export interface HealthParts {
  instance: string;
  paused: boolean;
  receiver?: {
    connected: boolean;
    brokerUrl: string;
    lastError: string | undefined;
    backpressured: boolean;
    session: { lost: number; lastLostAt: number | undefined };
  };
  /** The broker URL to report before a receiver exists (the first one of spec.source.brokers). */
  firstBroker: string;
  waitingForPostgres: string | undefined;
  pool?: {
    problem: string | undefined;
    blocked: SinkBlock | undefined;
    pendingDeadLetters: { count: number; lastError: string | undefined };
  };
  deadLetterTarget: string | undefined;
  deadLetterProbeError: string | undefined;
  wal?: {
    messages: number;
    bytes: number;
    opts: { sizeLimitBytes: number };
    full: boolean;
    fullReason: string;
    problem: string | undefined;
  };
}

/** A broker URL as the report shows it: no user name or password. */
export function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

export function healthReport(h: HealthParts): WorkerHealthReport {
  const r = h.receiver;
  const pending = h.pool?.pendingDeadLetters ?? { count: 0, lastError: undefined };
  const dlqError = pending.count > 0 ? (pending.lastError ?? h.deadLetterProbeError) : h.deadLetterProbeError;
  const blocked = h.pool?.blocked;
  const problem = h.pool?.problem;
  const backpressure = (r?.backpressured ?? false) || (h.wal?.full ?? false);
  return {
    instance: h.instance,
    paused: h.paused,
    broker: {
      connected: r?.connected ?? false,
      url: withoutCredentials(r?.brokerUrl ?? h.firstBroker),
      ...(!r?.connected ? { lastError: r?.lastError ?? 'not connected yet' } : {}),
      ...(r && r.session.lost > 0 && r.session.lastLostAt !== undefined
        ? { sessionLost: { count: r.session.lost, lastAt: new Date(r.session.lastLostAt).toISOString() } }
        : {}),
    },
    database: {
      writable: !h.waitingForPostgres && problem === undefined,
      ...(h.waitingForPostgres ? { waitingForStartup: h.waitingForPostgres } : {}),
      ...(blocked ? { blocked: { code: blocked.code, message: blocked.message, fix: blocked.fix } } : {}),
      ...(problem && !blocked ? { problem } : {}),
    },
    deadLetters: {
      configured: h.deadLetterTarget !== undefined,
      available: h.deadLetterTarget === undefined || dlqError === undefined,
      ...(h.deadLetterTarget ? { target: h.deadLetterTarget } : {}),
      ...(h.deadLetterTarget && dlqError ? { lastError: dlqError } : {}),
      pending: pending.count,
    },
    wal: {
      messages: h.wal?.messages ?? 0,
      bytes: h.wal?.bytes ?? 0,
      sizeLimitBytes: h.wal?.opts.sizeLimitBytes ?? 0,
      backpressure,
      ...(backpressure ? { reason: h.wal?.fullReason ?? 'WAL full' } : {}),
      volumeLow: h.wal?.problem !== undefined,
    },
  };
}
