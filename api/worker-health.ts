// The worker's health per subsystem, as the worker serves it on its health listener (HTTP_PATHS.subsystems)
// and the operator reads it for the pipeline's conditions (operator/subsystem-conditions.ts,
// docs/conditions.md). Facts only, no verdicts: the operator decides what they mean for the pipeline.

export interface WorkerHealthReport {
  /** The worker's instance (its pod name in a cluster). */
  instance: string;
  /** spec.paused as the worker applies it: reading nothing from the broker, draining the WAL. */
  paused: boolean;
  broker: {
    connected: boolean;
    /** The broker the worker is (or was last) connected to, without credentials. */
    url: string;
    /** Why the last connection attempt failed, while not connected. */
    lastError?: string;
    /** The broker no longer had the session the worker asked it to keep (issue #13): when, how often. */
    sessionLost?: { count: number; lastAt: string };
  };
  database: {
    /** The last write succeeded and none hangs. */
    writable: boolean;
    /** The startup check has not passed yet: why. */
    waitingForStartup?: string;
    /** Writes fail for a reason of the table, the server or the network (worker/pg-errors.ts). */
    blocked?: { code: string; message: string; fix: string };
    /** Why the pool is not writable when it is not a block (a hung write, another error). */
    problem?: string;
  };
  deadLetters: {
    /** A dead-letter bucket is configured (else rejected rows go to the unparseable table). */
    configured: boolean;
    /** The last request to the bucket (a PUT or the worker's periodic check) succeeded. */
    available: boolean;
    /** "s3://bucket/prefix", when configured. */
    target?: string;
    lastError?: string;
    /** Rejected rows waiting in the WAL for the store. */
    pending: number;
  };
  wal: {
    messages: number;
    bytes: number;
    sizeLimitBytes: number;
    /** The worker has stopped reading from the broker: the WAL is full or its volume low on space. */
    backpressure: boolean;
    /** Why, when backpressure is on. */
    reason?: string;
    volumeLow: boolean;
  };
}
