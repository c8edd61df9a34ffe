// Which PostgreSQL failures are the row's fault (isolate it, dead-letter it) and which are the server's or
// the network's (retry forever; never dead-letter).

export type FailureKind = 'row' | 'retry';

// SQLSTATE classes and codes a single row can cause: data exceptions (22: bad JSON, out of range, NUL in
// text), integrity violations (23), and limits one oversized value hits (54000 e.g. an index row too big).
const ROW_CLASSES = new Set(['22', '23']);
const ROW_CODES = new Set(['54000', '42804']);

export function sqlstateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function classifyFailure(err: unknown): FailureKind {
  const code = sqlstateOf(err);
  if (!code) return 'retry';
  return ROW_CLASSES.has(code.slice(0, 2)) || ROW_CODES.has(code) ? 'row' : 'retry';
}

/** Capped exponential backoff with full jitter: attempt 0 → up to initial, doubling up to max. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(ceiling / 2 + (random() * ceiling) / 2));
}
