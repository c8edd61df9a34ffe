// `mqtt2pg drain`: flush a WAL nobody runs any more (a scaled-down ordinal's volume) into PostgreSQL, through
// the worker's own flush side (wiring.ts), and exit. It never connects to the broker. A message leaves the
// WAL only after its commit, so giving up, a crash or a SIGTERM leaves the rest intact for a rerun.
// Unlike a running worker it does not expire entries past wal.retention: everything left is flushed.

import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import type { Counter } from 'prom-client';
import { createLogger } from '../common/logger.ts';
import { type DrainSummary, gaveUpMessage, progressLine, summaryJson, terminationReport } from './drain-report.ts';
import { WorkerMetrics } from './metrics.ts';
import { RoutePartitions } from './partition-wiring.ts';
import type { Wal } from './wal.ts';
import type { Quarantined } from './wal-quarantine.ts';
import { flusherPool, loadPipelineAndSecrets, openDeadLetters, openWal, StartupError } from './wiring.ts';

export interface DrainArgs {
  file: string;
  name?: string;
  secretsDir: string;
  walDir: string;
  /** Give up (exit 1) after this long without a message flushed. */
  timeoutMs: number;
  /** How often progress is printed. */
  progressEveryMs?: number;
  /** Also write the summary (and why it stopped short) here: a pod's terminationMessagePath. */
  terminationLog?: string;
  /** A directory that holds no WAL counts as drained (a volume whose worker never started): exit 0. */
  emptyOk?: boolean;
}

/** Why `dir` cannot be a WAL, or undefined when it looks like one (LevelDB keeps a CURRENT file). */
function notAWal(dir: string): string | undefined {
  if (!existsSync(dir)) return `no WAL at ${dir}: the directory does not exist`;
  if (!statSync(dir).isDirectory()) return `no WAL at ${dir}: it is not a directory`;
  if (!existsSync(join(dir, 'CURRENT')))
    return `no WAL at ${dir}: the directory holds no WAL (no LevelDB CURRENT file); give the directory a worker used as --wal-dir (in a pod, the root of the WAL volume)`;
  return undefined;
}

async function total(c: Counter<string>): Promise<number> {
  return (await c.get()).values.reduce((s, v) => s + v.value, 0);
}

export async function runDrain(args: DrainArgs): Promise<number> {
  const fail = (message: string) => {
    console.error(`mqtt2pg drain: ${message}`);
    return 1;
  };
  const loaded = loadPipelineAndSecrets('drain', args.file, args.name, args.secretsDir);
  if ('exitCode' in loaded) return loaded.exitCode;
  const { p, secrets } = loaded;
  const walDir = resolvePath(args.walDir);
  const report = (s: DrainSummary, error?: string) => {
    if (args.terminationLog) writeFileSync(args.terminationLog, terminationReport(s, error));
  };
  const empty = {
    walDir,
    messagesAtStart: 0,
    flushed: 0,
    rows: 0,
    unparseable: 0,
    deadLettered: 0,
    quarantined: 0,
    left: 0,
    seconds: 0,
  };
  const problem = notAWal(walDir);
  if (problem && args.emptyOk && existsSync(walDir) && !existsSync(join(walDir, 'CURRENT'))) {
    report(empty);
    console.log(summaryJson(empty));
    return 0;
  }
  if (problem) {
    report(empty, problem);
    return fail(problem);
  }

  let wal: Wal;
  try {
    wal = await openWal(p, walDir);
  } catch (err) {
    const message = (err as Error).message;
    const why = /\block\b/i.test(message)
      ? `${message}: a running worker holds this WAL and flushes it itself; stop that worker before draining`
      : message;
    report(empty, why);
    return fail(why);
  }
  const started = performance.now();
  const atStart = wal.messages;
  const quarantinedAtStart = wal.quarantine.messages;
  const log = createLogger(p.logLevel, { pipeline: `${p.namespace}/${p.name}`, command: 'drain', walDir }, 2);
  const metrics = new WorkerMetrics(p.name, () => wal);
  const summary = async (left: number): Promise<DrainSummary> => ({
    walDir,
    messagesAtStart: atStart,
    flushed: atStart - left,
    rows: await total(metrics.flushedRows),
    unparseable: await total(metrics.unparseable),
    deadLettered: await total(metrics.deadLetters),
    quarantined: wal.quarantine.messages - quarantinedAtStart,
    left,
    seconds: (performance.now() - started) / 1000,
  });
  if (atStart === 0) {
    await wal.close();
    const s = await summary(0);
    report(s);
    console.log(summaryJson(s));
    if (wal.quarantine.note) console.error(`mqtt2pg drain: ${wal.quarantine.note}`);
    return 0;
  }

  let deadLetters: Awaited<ReturnType<typeof openDeadLetters>>;
  try {
    deadLetters = await openDeadLetters(p, secrets);
  } catch (err) {
    await wal.close();
    const message = err instanceof StartupError ? err.message : String(err);
    const why = `${message}; the WAL at ${walDir} is intact (${atStart} messages), run the command again`;
    report(await summary(atStart), why);
    return fail(why);
  }
  wal.on('error', (err: Error) => log.error({ err: err.message }, 'WAL write failed'));
  wal.on('compactionFailed', (err: Error) => log.warn({ err: err.message }, 'WAL compaction failed'));
  wal.on('quarantined', (q: Quarantined) =>
    log.error(q, 'a damaged WAL record was moved aside (kept, never replayed); the records around it are drained'),
  );
  log.info({ messages: atStart, bytes: wal.bytes }, 'draining the WAL into PostgreSQL');
  // The worker's partition check and maintenance too: rows outside the partitions go to the unparseable table.
  const partitions = new RoutePartitions(p, secrets, log);
  partitions.start();
  const pool = flusherPool(p, secrets, wal, { deadLetters, metrics, log, partitions });
  pool.setCount(p.flusher.flushers);

  let interrupted: string | undefined;
  const onSignal = (signal: string) => {
    interrupted = signal;
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  const every = args.progressEveryMs ?? 1000;
  let left = atStart;
  let lastTick = performance.now();
  let lastProgressAt = lastTick;
  let outcome: string | undefined;
  for (;;) {
    const now = await pool.drain(Date.now() + every);
    const t = performance.now();
    if (now < left) lastProgressAt = t;
    const rate = ((left - now) * 1000) / Math.max(1, t - lastTick);
    left = now;
    lastTick = t;
    process.stderr.write(`${progressLine({ atStart, left, rate, elapsedMs: t - started })}\n`);
    if (left === 0) break;
    if (interrupted) {
      outcome = `stopped by ${interrupted}; ${left} messages stay in the WAL at ${walDir}, intact; run the command again`;
      break;
    }
    if (t - lastProgressAt >= args.timeoutMs) {
      outcome = gaveUpMessage({ walDir, left, stalledMs: t - lastProgressAt, lastError: pool.lastError });
      break;
    }
  }
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  // Writes still waiting (PostgreSQL gone, a locked table) are cut: nothing of them commits, the WAL keeps them.
  await pool.stop();
  await partitions.stop();
  left = wal.messages;
  await wal.close();
  deadLetters?.close();
  const s = await summary(left);
  report(s, outcome);
  console.log(summaryJson(s));
  if (wal.quarantine.note) console.error(`mqtt2pg drain: ${wal.quarantine.note}`);
  if (outcome) return fail(outcome);
  log.info('drained: every message of the WAL is committed');
  return 0;
}
