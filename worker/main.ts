// Wiring of one worker: self-check → WAL (replay) → subscribe → flushers; metrics and health listeners;
// PostgreSQL not answering yet does not stop it (startup-check.ts: the check goes on in the background);
// SIGTERM drains the WAL into PostgreSQL and exits 0. The same code runs in a pod and on a laptop. The
// pipeline loading and the flush side are built in wiring.ts, which `mqtt2pg drain` shares.

import { hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { ENV, HTTP_PATHS } from '../api/contract.ts';
import { drainSeconds as drainBudgetSeconds, spillSeconds, spills } from '../api/shutdown.ts';
import { mqttClientOptions } from '../common/client-options.ts';
import { closeServer, portOf, serve } from '../common/http-server.ts';
import { createLogger } from '../common/logger.ts';
import { DeadLetterProbe } from './dead-letter-probe.ts';
import type { S3DeadLetterStore } from './deadletter.ts';
import type { FlusherPool } from './flusher.ts';
import { healthReport } from './health-report.ts';
import { WorkerMetrics } from './metrics.ts';
import { RoutePartitions } from './partition-wiring.ts';
import { PauseControl } from './pause.ts';
import { Receiver } from './receiver.ts';
import { type ScaleWatch, watchScale } from './scale-watch.ts';
import { stopIntakeAndEmptyWal } from './shutdown.ts';
import { openSpill, type SpillParts } from './spill-wiring.ts';
import { awaitPostgres, checkPostgres, PostgresCheckError } from './startup-check.ts';
import { exitOnInternalError, reportWalEvents } from './unexpected.ts';
import type { Claim, Wal } from './wal.ts';
import { flusherPool, loadPipelineAndSecrets, openDeadLetters, openWal, StartupError } from './wiring.ts';

export interface WorkerArgs {
  file: string;
  name?: string;
  secretsDir: string;
  /** Defaults to ./wal-<pipeline>. */
  walDir?: string;
  metricsPort: number;
  healthPort: number;
  listenHost: string;
  /** Replaces the pod-name part of the client id; lets several local workers share one host. */
  instance?: string;
  migrate: boolean;
  /** Seconds a SIGTERM drain may take; defaults to the grace period minus 5 s (api/shutdown.ts). */
  drainTimeoutSeconds?: number;
  /** Follow the autoscaler's flusher count through the API (default: when POD_NAMESPACE is set, i.e. in a pod). */
  watchScale?: boolean;
}

export async function runWorker(args: WorkerArgs): Promise<number> {
  const loaded = loadPipelineAndSecrets('worker', args.file, args.name, args.secretsDir);
  if ('exitCode' in loaded) return loaded.exitCode;
  const { p, secrets } = loaded;
  const instance = args.instance ?? process.env[ENV.podName] ?? `${hostname()}-${p.name}`;
  const log = createLogger(p.logLevel, { pipeline: `${p.namespace}/${p.name}`, instance });
  let wal: Wal | undefined;
  const metrics = new WorkerMetrics(p.name, () => wal);
  let receiver: Receiver | undefined;
  let pool: FlusherPool<Claim> | undefined;
  let pause: PauseControl | undefined;
  let dlqProbe: DeadLetterProbe | undefined;

  /** Why the startup check of PostgreSQL has not passed yet (it goes on in the background), if it has not. */
  let waitingForPostgres: string | undefined;
  const postgresWait = new AbortController();
  let exitCode = 0;

  exitOnInternalError(log);
  const ready = () => Boolean(!waitingForPostgres && receiver?.connected && pool?.healthy && !wal?.problem);
  const metricsServer = await serve(args.metricsPort, args.listenHost, {
    [HTTP_PATHS.metrics]: async () => ({
      status: 200,
      body: await metrics.registry.metrics(),
      type: metrics.registry.contentType,
    }),
  });
  const healthServer = await serve(args.healthPort, args.listenHost, {
    [HTTP_PATHS.healthz]: async () => ({ status: 200, body: 'ok\n' }),
    [HTTP_PATHS.readyz]: async () => {
      const note = `${wal?.quarantine.note ? `${wal.quarantine.note}\n` : ''}${receiver?.session.note() ?? ''}`;
      return ready()
        ? { status: 200, body: `ready${pool?.notes ? `; ${pool.notes}` : ''}\n${note}` }
        : {
            status: 503,
            body: `not ready: ${waitingForPostgres ? `waiting for PostgreSQL: ${waitingForPostgres}` : !receiver?.connected ? 'not connected to the broker' : (wal?.problem ?? pool?.problem ?? 'starting')}\n${note}`,
          };
    },
    [HTTP_PATHS.subsystems]: async () => ({
      status: 200,
      type: 'application/json',
      body: `${JSON.stringify(
        healthReport({
          instance,
          paused: pause?.paused ?? p.paused,
          ...(receiver ? { receiver } : {}),
          firstBroker: p.source.brokers[0] ?? '',
          waitingForPostgres,
          ...(pool ? { pool } : {}),
          deadLetterTarget: p.deadLetter ? `s3://${p.deadLetter.bucket}/${p.deadLetter.prefix}` : undefined,
          deadLetterProbeError: dlqProbe?.lastError,
          ...(wal ? { wal } : {}),
        }),
      )}\n`,
    }),
  });
  log.info({ metricsPort: portOf(metricsServer), healthPort: portOf(healthServer) }, 'listening');

  let deadLetters: S3DeadLetterStore | undefined;
  let scaleWatch: ScaleWatch | undefined;
  let spill: SpillParts | undefined;
  let partitions: RoutePartitions | undefined;
  const closeAll = async () => {
    scaleWatch?.stop();
    dlqProbe?.stop();
    await spill?.replayer.stop();
    await pool?.stop();
    await partitions?.stop();
    spill?.close();
    await wal?.close().catch(() => {});
    deadLetters?.close();
    await closeServer(metricsServer);
    await closeServer(healthServer);
  };

  try {
    waitingForPostgres = 'checking the connection, the migrations and the tables';
    const first = await checkPostgres(p, secrets, args.migrate, log).then(
      () => undefined,
      (err: unknown) => err,
    );
    waitingForPostgres = undefined;
    if (first) {
      if (!(first instanceof PostgresCheckError) || !first.transient) throw first;
      waitingForPostgres = first.message;
      log.warn(
        { err: first.message },
        'PostgreSQL does not answer yet: starting anyway; messages go into the WAL and are flushed once it answers',
      );
      awaitPostgres(() => checkPostgres(p, secrets, args.migrate, log), {
        signal: postgresWait.signal,
        onWaiting: (reason) => {
          waitingForPostgres = reason;
        },
        initialBackoffMs: p.flusher.initialBackoffMs,
        maxBackoffMs: p.flusher.maxBackoffMs,
      }).then(
        () => {
          if (postgresWait.signal.aborted) return;
          waitingForPostgres = undefined;
          log.info('PostgreSQL answers: startup check passed');
        },
        (err: Error) => {
          // Reachable now, and refusing the configuration (e.g. a wrong password): stop as at start.
          log.error({ err: err.message }, 'startup check failed');
          console.error(`mqtt2pg worker: ${err.message}`);
          exitCode = 1;
          process.kill(process.pid, 'SIGTERM');
        },
      );
    }
    deadLetters = await openDeadLetters(p, secrets);
    if (deadLetters) {
      dlqProbe = new DeadLetterProbe(deadLetters);
      dlqProbe.start();
    }
    const walDir = resolvePath(args.walDir ?? `wal-${p.name}`);
    wal = await openWal(p, walDir, {
      onError: (err) =>
        log.warn(
          { err: err.message, dir: walDir },
          'WAL volume watch failed (statfs or the reserve file); trying again',
        ),
    });
    if (wal.messages > 0)
      log.info({ messages: wal.messages, bytes: wal.bytes }, 'replaying the WAL before new messages');
    const openedWal = wal;
    openedWal.on('error', (err: Error) => {
      // Nothing unsynced was acknowledged; the broker redelivers it. Exiting is the only safe move.
      log.fatal({ err: err.message, dir: walDir }, 'WAL write failed; exiting without acknowledging further messages');
      process.exit(1);
    });
    reportWalEvents(openedWal, log);
    openedWal.on('compactionFailed', (err: Error) =>
      log.warn(
        { err: err.message, dir: walDir },
        'WAL compaction failed; deleted records keep their disk space for now',
      ),
    );
    const mqttOptions = mqttClientOptions(p, secrets, instance);
    const ephemeral = process.env[ENV.identity] === 'ephemeral';
    if (ephemeral) mqttOptions.endSessionOnStop = true;
    receiver = new Receiver(mqttOptions, openedWal, metrics, log);
    const rx = receiver;
    const paused = new PauseControl(rx, openedWal, log);
    pause = paused;
    paused.set(p.paused);
    await receiver.start().catch((err: Error) => {
      throw new StartupError(err.message);
    });
    // Partitions ahead and retention, at start and periodically (partition-maintainer.ts); none without partitioned routes.
    partitions = new RoutePartitions(p, secrets, log);
    partitions.start();
    pool = flusherPool(p, secrets, openedWal, { deadLetters, metrics, log, partitions });
    pool.setCount(p.flusher.flushers);
    // An Ephemeral WAL goes with its pod: stopping workers spill to the bucket, every worker replays spills.
    if (spills(p)) spill = await openSpill(p, secrets, { instance, wal: openedWal, metrics, log });
    if (args.watchScale ?? process.env[ENV.podNamespace] !== undefined) {
      const flushers = pool;
      scaleWatch = await watchScale(
        {
          namespace: p.namespace,
          name: p.name,
          minFlushers: p.flusher.minFlushers,
          maxFlushers: p.flusher.maxFlushers,
          instance,
        },
        {
          flushers: (n) => {
            if (n === flushers.count) return;
            log.info({ from: flushers.count, to: n }, 'flusher count changed by the autoscaler');
            flushers.setCount(n);
          },
          paused: (on) => paused.set(on),
          leaving: (leaving) => {
            if (ephemeral || leaving === rx.endsSessionOnStop) return;
            log.info(
              { leaving },
              leaving
                ? 'this worker is scaled away or its pipeline deleted: it will end its broker session when it stops'
                : 'this worker stays in the pipeline: it will keep its broker session when it stops',
            );
            rx.endsSessionOnStop = leaving;
          },
        },
        log,
      );
    }
  } catch (err) {
    const message = err instanceof StartupError ? err.message : String((err as Error).stack ?? err);
    log.error({ err: message }, 'startup check failed');
    console.error(`mqtt2pg worker: ${message}`);
    await receiver?.stop().catch(() => {});
    await closeAll();
    return 1;
  }

  const sweeper = setInterval(() => {
    wal?.sweepExpired().then(
      (n) =>
        n > 0 &&
        log.error(
          { messages: n, retention: p.wal.retentionMs },
          'WAL entries expired by the retention limit before they could be flushed',
        ),
      (err: Error) => log.error({ err: err.message }, 'WAL retention sweep failed'),
    );
  }, 60_000);
  sweeper.unref();

  const drainSeconds = args.drainTimeoutSeconds ?? drainBudgetSeconds(p);
  return await new Promise<number>((resolveExit) => {
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      const drainDeadline = Date.now() + drainSeconds * 1000;
      log.info(
        { signal, walMessages: wal?.messages, drainSeconds, spillSeconds: spill ? spillSeconds(p) : 0 },
        'stopping: no new messages; draining the WAL into PostgreSQL',
      );
      clearInterval(sweeper);
      postgresWait.abort();
      await spill?.replayer.stop();
      await stopIntakeAndEmptyWal(
        { receiver, pool, wal, spiller: spill?.spiller, walLostWithPod: p.wal.storage.type === 'Ephemeral', log },
        drainDeadline,
        drainDeadline + spillSeconds(p) * 1000,
      );
      await closeAll();
      resolveExit(exitCode);
    };
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    process.once('SIGINT', () => void shutdown('SIGINT'));
  });
}
