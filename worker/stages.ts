// The seams between the worker's stages, as the flusher pool sees them: where batches come from (the WAL),
// where rows go (PostgreSQL) and where rows PostgreSQL rejects go (the dead-letter store). Each side keeps
// its half of the delivery contract: a message leaves the claim source only after it is stored downstream.
//
//   ClaimSource ──claim──▶ FlusherPool ──write──▶ RowSink
//        ▲                     │ rows the sink rejects (row-level SQLSTATE)
//        └──────commit─────────┴──────put─────▶ DeadLetterStore

import type { InboundMessage } from './message.ts';
import type { Row } from './rows.ts';

/** Messages handed to one flusher, committed or released as one unit. */
export interface ClaimedBatch {
  readonly messages: InboundMessage[];
}

/**
 * Durable messages waiting for a flusher (the WAL). The pool keeps its side: it commits a claim only after
 * every row of it is in a committed sink transaction or a stored dead letter, and releases the claim when it
 * stops before that (nothing is dropped). The source keeps its side: a claim is never handed out twice at
 * once, a committed claim is gone for good, and a released one is claimed again, oldest first.
 */
export interface ClaimSource<C extends ClaimedBatch> {
  /** Messages waiting to be claimed. */
  readonly available: number;
  /** Bytes of the messages waiting to be claimed (as the source counts them for maxBytes). */
  readonly availableBytes: number;
  /** Receive time (epoch ms) of the oldest waiting message; undefined when none waits. */
  readonly oldestAvailableAt: number | undefined;
  /** Messages held, claimed or not, until committed: 0 when everything taken in is delivered. */
  readonly messages: number;
  /**
   * The oldest waiting messages, up to maxMessages and maxBytes (the source may round to its own units, and
   * always hands out at least one of them); none: undefined.
   */
  claim(maxMessages: number, maxBytes: number): Promise<C | undefined>;
  /** The claim's rows are stored downstream: delete its messages. */
  commit(claim: C): Promise<void>;
  /** Hands an uncommitted claim back, to be claimed again. */
  release(claim: C): void;
  /**
   * Commits the claim except `keep` (some of its messages), which stay durable as a new claim the caller
   * holds (not claimable by others) until it commits or releases it: rows whose dead letters wait for S3.
   */
  retain(claim: C, keep: InboundMessage[]): Promise<C>;
  /** 'available': messages arrived or were released; 'committed': a commit deleted some. */
  on(event: 'available' | 'committed', listener: () => void): unknown;
}

/**
 * One flusher's connection to the table (PgSink). `write` is all or nothing: it resolves only after the
 * transaction holding every row committed, and when it throws nothing of it is committed. A rejection a
 * single row can cause carries its SQLSTATE as `code` (data or integrity classes, see pg-errors.ts): the
 * pool then splits the batch to find the row. Any other error (connection, server, timeout) means "try again".
 * `close` during a write cuts it (its connection ends): the write throws, and unless its COMMIT had already
 * gone out nothing of it commits (if it had, the replay from the WAL is a counted duplicate).
 */
export interface RowSink {
  write(rows: Row[]): Promise<void>;
  close(): Promise<void>;
}

/** A row PostgreSQL refused, with why and after how many writes that held it. */
export interface DeadLetter {
  message: InboundMessage;
  sqlstate?: string;
  error: string;
  attempts: number;
}

/**
 * Where rejected rows are kept for replay (S3). `put` resolves only once the letters are stored (the PUT
 * succeeded), with the key or name they are stored under; when it throws, none of them counts as stored.
 */
export interface DeadLetterStore {
  put(letters: DeadLetter[]): Promise<string>;
}
