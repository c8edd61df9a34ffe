// Wiring of one worker: self-check → WAL (replay) → subscribe → flushers; metrics and health listeners;
// SIGTERM drains the WAL into PostgreSQL and exits 0. The same code runs in a pod and on a laptop. The
// pipeline loading and the flush side are built in wiring.ts, which `mqtt2pg drain` shares.

import { hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import pg from 'pg';
import { ENV, HTTP_PATHS } from '../api/contract.ts';
import type { ResolvedPipeline } from '../api/defaults.ts';
import { mqttClientOptions, pgClientConfig } from '../common/client-options.ts';
import { closeServer, portOf, serve } from '../common/http-server.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import type { SecretsDir } from '../common/secrets-dir.ts';
import type { S3DeadLetterStore } from './deadletter.ts';
import type { FlusherPool } from './flusher.ts';
import { WorkerMetrics } from './metrics.ts';
import { migrate } from './migrate.ts';
import { explainPgConnectError } from './pg-errors.ts';
import { Receiver } from './receiver.ts';
import { type ScaleWatch, watchScale } from './scale-watch.ts';
import { qualified } from './sql.ts';
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
  /** Seconds a SIGTERM drain may take; defaults to the grace period minus 5 s. */
  drainTimeoutSeconds?: number;
  /** Follow the autoscaler's flusher count through the API (default: when POD_NAMESPACE is set, i.e. in a pod). */
  watchScale?: boolean;
}

async function checkPostgres(p: ResolvedPipeline, secrets: SecretsDir, runMigrations: boolean, log: Logger) {
  const client = new pg.Client(pgClientConfig(p, secrets, 'startup'));
  try {
    await client.connect();
  } catch (err) {
    throw new StartupError(explainPgConnectError(err, p));
  }
  try {
    if (runMigrations) {
      const r = await migrate(client, p.sink);
      if (r.applied.length > 0) log.info({ applied: r.applied }, 'applied schema migrations');
    }
    for (const t of [p.sink.table, p.sink.unparseableTable]) {
      try {
        await client.query(`SELECT 1 FROM ${qualified(p.sink.schema, t)} LIMIT 0`);
      } catch (err) {
        throw new StartupError(
          `table ${p.sink.schema}.${t} is not usable (${(err as Error).message}); run 'mqtt2pg migrate -f <pipeline>' or start the worker without --no-migrate`,
        );
      }
    }
  } catch (err) {
    if (err instanceof StartupError) throw err;
    throw new StartupError(explainPgConnectError(err, p));
  } finally {
    await client.end().catch(() => {});
  }
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

  const ready = () => Boolean(receiver?.connected && pool?.healthy);
  const metricsServer = await serve(args.metricsPort, args.listenHost, {
    [HTTP_PATHS.metrics]: async () => ({
      status: 200,
      body: await metrics.registry.metrics(),
      type: metrics.registry.contentType,
    }),
  });
  const healthServer = await serve(args.healthPort, args.listenHost, {
    [HTTP_PATHS.healthz]: async () => ({ status: 200, body: 'ok\n' }),
    [HTTP_PATHS.readyz]: async () =>
      ready()
        ? { status: 200, body: `ready\n${receiver?.session.note() ?? ''}` }
        : {
            status: 503,
            body: `not ready: ${!receiver?.connected ? 'not connected to the broker' : (pool?.problem ?? 'starting')}\n`,
          },
  });
  log.info({ metricsPort: portOf(metricsServer), healthPort: portOf(healthServer) }, 'listening');

  let deadLetters: S3DeadLetterStore | undefined;
  let scaleWatch: ScaleWatch | undefined;
  const closeAll = async () => {
    scaleWatch?.stop();
    await pool?.stop();
    await wal?.close().catch(() => {});
    deadLetters?.close();
    await closeServer(metricsServer);
    await closeServer(healthServer);
  };

  try {
    await checkPostgres(p, secrets, args.migrate, log);
    deadLetters = await openDeadLetters(p, secrets);
    const walDir = resolvePath(args.walDir ?? `wal-${p.name}`);
    wal = await openWal(p, walDir);
    if (wal.messages > 0)
      log.info({ messages: wal.messages, bytes: wal.bytes }, 'replaying the WAL before new messages');
    const openedWal = wal;
    openedWal.on('error', (err: Error) => {
      // Nothing unsynced was acknowledged; the broker redelivers it. Exiting is the only safe move.
      log.fatal({ err: err.message, dir: walDir }, 'WAL write failed; exiting without acknowledging further messages');
      process.exit(1);
    });
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
    await receiver.start().catch((err: Error) => {
      throw new StartupError(err.message);
    });
    pool = flusherPool(p, secrets, openedWal, { deadLetters, metrics, log });
    pool.setCount(p.flusher.flushers);
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

  const drainSeconds = args.drainTimeoutSeconds ?? Math.max(5, p.terminationGracePeriodSeconds - 5);
  return await new Promise<number>((resolveExit) => {
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      const deadline = Date.now() + drainSeconds * 1000;
      log.info(
        { signal, walMessages: wal?.messages, drainSeconds },
        'stopping: no new messages; draining the WAL into PostgreSQL',
      );
      clearInterval(sweeper);
      await receiver?.stop();
      const left = (await pool?.drain(deadline)) ?? 0;
      // Writes still waiting past the deadline (a locked table) are cut: the pod's SIGKILL is near.
      await pool?.stop(Math.max(0, deadline - Date.now()));
      await closeAll();
      if (left > 0)
        log.warn({ messages: left }, 'drain deadline reached; the rest stays in the WAL and is flushed on restart');
      else log.info('drained: every acknowledged message is committed');
      resolveExit(0);
    };
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    process.once('SIGINT', () => void shutdown('SIGINT'));
  });
}
