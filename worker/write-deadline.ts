// Client-side deadlines of one PostgreSQL write, so a silent peer (a PgBouncer or network path that accepts
// bytes and never answers) is noticed in seconds instead of when the OS gives up on the socket (hours):
// the first round trip of a transaction (BEGIN) must be answered within FIRST_ANSWER_MS, and the whole write
// within the statement timeout plus a margin (past it, the server would have cancelled the statement and
// said so). On expiry the connection is cut; the write fails and is retried on a fresh connection.

/** A server (or PgBouncer with a free server connection) answers BEGIN in milliseconds; 10 s is a dead peer. */
export const FIRST_ANSWER_MS = 10_000;
/** Past the statement timeout the server has cancelled the statement (57014) and said so; silence means a dead peer. */
export const WRITE_MARGIN_MS = 10_000;

export interface WriteTimeouts {
  firstAnswerMs: number;
  totalMs: number;
}

export function writeTimeouts(statementTimeoutMs: number): WriteTimeouts {
  return { firstAnswerMs: FIRST_ANSWER_MS, totalMs: statementTimeoutMs + WRITE_MARGIN_MS };
}

/** The error a cut write throws: says what happened and what to check. */
export class WriteTimeoutError extends Error {
  override name = 'WriteTimeoutError';
  readonly code = 'ETIMEDOUT';
}

/**
 * Arms both deadlines for one write; `cut` ends its connection. Call `answered()` after the first round
 * trip, `explain(err)` on the write's error (the timeout's own error replaces the connection's), `clear()` last.
 */
export class WriteDeadline {
  private timer: NodeJS.Timeout;
  private readonly started = performance.now();
  private readonly t: WriteTimeouts;
  private readonly cut: () => void;
  private expired: string | undefined;

  constructor(t: WriteTimeouts, cut: () => void) {
    this.t = t;
    this.cut = cut;
    this.timer = this.arm(t.firstAnswerMs, `no answer to BEGIN within ${t.firstAnswerMs} ms`);
  }

  private arm(ms: number, why: string): NodeJS.Timeout {
    return setTimeout(
      () => {
        this.expired = why;
        this.cut();
      },
      Math.max(0, ms),
    );
  }

  answered(): void {
    if (this.expired) return;
    clearTimeout(this.timer);
    const left = this.t.totalMs - (performance.now() - this.started);
    this.timer = this.arm(left, `the write did not finish within ${this.t.totalMs} ms`);
  }

  explain(err: unknown): unknown {
    if (!this.expired) return err;
    return new WriteTimeoutError(
      `PostgreSQL (or PgBouncer) went silent: ${this.expired}; the connection was cut and the write is retried on a new one`,
    );
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}
