// The drain figure of `make bench`, read from the samples taken after PostgreSQL returned. Two parts a user
// sees separately: how long until the first rows commit again (PostgreSQL's start, PgBouncer's
// server_login_retry, the flushers' backoff), and the rate of the drain itself from that first commit until
// the backlog is empty, which is what compares with psql \copy (#17 goal 2). Pure.

export interface BacklogSample {
  /** Seconds since PostgreSQL was started again. */
  t: number;
  committed: number;
  backlog: number;
}

export interface DrainWindow {
  /** From PostgreSQL started to the first sample with rows committed since. */
  resumeSeconds: number;
  /** From that sample to the first with an empty backlog. */
  drainSeconds: number;
  /** Rows committed in drainSeconds, per second. */
  rowsPerS: number;
  /** Whole time to an empty backlog, and the rate over it (what the bench reported before). */
  totalSeconds: number;
  totalRowsPerS: number;
}

/**
 * The drain's parts from samples taken every `everyS` (the first at t≈0). The first commit happened within the
 * interval before the sample that shows it: the drain is counted from the sample before that one (rows are
 * never counted outside the window, so the rate errs low, by at most one interval).
 */
export function drainWindow(samples: BacklogSample[]): DrainWindow {
  const first = samples[0];
  if (!first) throw new Error('no drain samples');
  const resumed = samples.findIndex((s) => s.committed > first.committed);
  const empty = samples.findIndex((s) => s.backlog === 0);
  if (resumed < 0 || empty < 0) throw new Error('the drain samples never show the backlog emptied');
  const start = samples[Math.max(0, resumed - 1)] as BacklogSample;
  const end = samples[empty] as BacklogSample;
  const drainSeconds = end.t - start.t;
  const totalSeconds = end.t - first.t;
  return {
    resumeSeconds: start.t - first.t,
    drainSeconds,
    rowsPerS: Math.round((end.committed - start.committed) / Math.max(0.001, drainSeconds)),
    totalSeconds,
    totalRowsPerS: Math.round((end.committed - first.committed) / Math.max(0.001, totalSeconds)),
  };
}
