// `mqtt2pg worker -f PIPELINE.yaml`: one worker outside Kubernetes, or inside a pod.

import { DEFAULT_SECRETS_DIR, ENV, WORKER_PORTS } from '../api/contract.ts';
import { runWorker } from '../worker/main.ts';
import { parseCommandArgs, UsageError } from './args.ts';

const USAGE = `Usage: mqtt2pg worker -f FILE [options]

Runs one ingest worker for the IngestPipeline in FILE: subscribe (shared, QoS 1) → WAL (fsync before
PUBACK) → COPY into PostgreSQL → dead letters to S3. SIGTERM drains the WAL and exits 0.

  -f, --file FILE          the pipeline (the same YAML you kubectl apply)
      --name NAME          which pipeline, when FILE holds several
      --secrets-dir DIR    Secret values as DIR/<secret>/<key> (default ${DEFAULT_SECRETS_DIR})
      --wal-dir DIR        WAL directory (default ./wal-<pipeline>)
      --instance NAME      client id suffix: <clientIdPrefix>-<NAME> (default $${ENV.podName}, else <host>-<pipeline>)
      --metrics-port N     /metrics listener (default ${WORKER_PORTS.metrics.port}; 0 picks a free port)
      --health-port N      /healthz and /readyz listener (default ${WORKER_PORTS.health.port}; 0 picks a free port)
      --listen-host HOST   address of both listeners (default 0.0.0.0)
      --no-migrate         do not create/upgrade the tables at start (they must exist)
      --drain-timeout S    seconds a SIGTERM drain may take (default terminationGracePeriodSeconds - 5); an
                           Ephemeral WAL with a deadLetter bucket is then spilled to it (see docs/reliability.md)
      --watch-scale        follow the autoscaler's flusher count (status.autoscaling.current.flushers of the
                           pipeline) through the Kubernetes API; default on when ${ENV.podNamespace} is set
      --no-watch-scale     never watch it`;

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`mqtt2pg worker: --${name} must be a whole number (got "${v}")`);
  return n;
}

export async function runWorkerCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'worker',
    argv,
    {
      file: { type: 'string', short: 'f' },
      name: { type: 'string' },
      'secrets-dir': { type: 'string' },
      'wal-dir': { type: 'string' },
      instance: { type: 'string' },
      'metrics-port': { type: 'string' },
      'health-port': { type: 'string' },
      'listen-host': { type: 'string' },
      'no-migrate': { type: 'boolean' },
      'drain-timeout': { type: 'string' },
      'watch-scale': { type: 'boolean' },
      'no-watch-scale': { type: 'boolean' },
    },
    USAGE,
  );
  const file = values.file as string | undefined;
  if (!file) throw new UsageError(`mqtt2pg worker: no pipeline given; pass it with -f FILE\n\n${USAGE}`);
  return await runWorker({
    file,
    ...(values.name ? { name: values.name as string } : {}),
    secretsDir: (values['secrets-dir'] as string | undefined) ?? DEFAULT_SECRETS_DIR,
    ...(values['wal-dir'] ? { walDir: values['wal-dir'] as string } : {}),
    metricsPort: int('metrics-port', values['metrics-port'] as string | undefined, WORKER_PORTS.metrics.port),
    healthPort: int('health-port', values['health-port'] as string | undefined, WORKER_PORTS.health.port),
    listenHost: (values['listen-host'] as string | undefined) ?? '0.0.0.0',
    ...(values.instance ? { instance: values.instance as string } : {}),
    migrate: !values['no-migrate'],
    ...(values['watch-scale'] ? { watchScale: true } : values['no-watch-scale'] ? { watchScale: false } : {}),
    ...(values['drain-timeout'] !== undefined
      ? { drainTimeoutSeconds: int('drain-timeout', values['drain-timeout'] as string, 55) }
      : {}),
  });
}
