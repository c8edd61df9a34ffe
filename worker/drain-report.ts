// What `mqtt2pg drain` tells the operator: a progress line each second on stderr, a JSON summary on stdout,
// and, when it gives up, why and what is left. Pure, so the wording is tested without services.

export interface DrainProgress {
  /** Messages in the WAL when the drain started. */
  atStart: number;
  left: number;
  /** Messages flushed per second over the last interval. */
  rate: number;
  elapsedMs: number;
}

export function progressLine(p: DrainProgress): string {
  const done = p.atStart - p.left;
  const pct = p.atStart > 0 ? Math.floor((done / p.atStart) * 100) : 100;
  const eta = p.rate > 0 && p.left > 0 ? `, about ${Math.ceil(p.left / p.rate)} s to go` : '';
  return `drain: ${Math.round(p.elapsedMs / 1000)}s ${p.left} of ${p.atStart} messages left (${pct}% flushed), ${Math.round(p.rate)}/s${eta}`;
}

export interface DrainSummary {
  walDir: string;
  messagesAtStart: number;
  /** Messages taken out of the WAL: rows + unparseable + deadLettered + quarantined. */
  flushed: number;
  /** Rows committed to the telemetry table. */
  rows: number;
  /** Rows committed to the unparseable table because the payload broke the device contract. */
  unparseable: number;
  /** Rows PostgreSQL rejected, stored in the DLQ (or the unparseable table without one). */
  deadLettered: number;
  /** Messages in damaged WAL records moved aside during this drain (kept in the WAL directory, never replayed). */
  quarantined: number;
  left: number;
  seconds: number;
}

export function summaryJson(s: DrainSummary): string {
  return JSON.stringify({ ...s, seconds: Math.round(s.seconds * 10) / 10 });
}

/** Why the drain stopped short, what stays in the WAL, and that running it again is safe. */
export function gaveUpMessage(o: { walDir: string; left: number; stalledMs: number; lastError: string | undefined }) {
  const why = o.lastError ?? 'no write finished (a locked table, or PostgreSQL not answering)';
  return (
    `could not finish: nothing was flushed for ${Math.round(o.stalledMs / 1000)} s; last error: ${why}. ` +
    `${o.left} messages stay in the WAL at ${o.walDir}, intact (a message leaves it only after its commit); ` +
    'fix the cause and run the command again'
  );
}

/** The kubelet keeps at most this many bytes of a container's termination message. */
export const TERMINATION_MESSAGE_MAX = 4096;

/**
 * What a drain Job's pod leaves in its termination message (the operator reads it from the pod's status and
 * shows `left` per volume): the summary, and why it stopped short when it did. Cut to fit the kubelet's limit
 * by shortening the reason, so the counts always survive.
 */
export function terminationReport(s: DrainSummary, error?: string): string {
  const body = JSON.parse(summaryJson(s)) as Record<string, unknown>;
  const full = JSON.stringify(error === undefined ? body : { ...body, error });
  if (Buffer.byteLength(full) <= TERMINATION_MESSAGE_MAX || error === undefined) return full;
  const room = TERMINATION_MESSAGE_MAX - Buffer.byteLength(JSON.stringify({ ...body, error: '' })) - 8;
  let cut = error.slice(0, Math.max(0, room));
  while (Buffer.byteLength(JSON.stringify(cut)) - 2 > room) cut = cut.slice(0, -1);
  return JSON.stringify({ ...body, error: `${cut}...` });
}
