// `mqtt2pg operator`: runs the controller with in-cluster credentials, or KUBECONFIG outside a cluster.

import { parseArgs } from 'node:util';
import { ENV, OPERATOR_PORT } from '../api/contract.ts';
import { parseDurationMs } from '../api/units.ts';
import { parseAllowedImages } from '../operator/image-policy.ts';
import { runOperator } from '../operator/main.ts';
import { validateLeaderElection } from '../operator/runtime/leader.ts';

const USAGE = `Usage: mqtt2pg operator [options]

Reconciles IngestPipelines into worker Deployments/StatefulSets, ConfigMaps, PgBouncer and RBAC, and
reports their status. Uses the in-cluster service account in a pod, KUBECONFIG (or ~/.kube/config) outside.

  --watch-namespace NS[,NS...]   watch only these namespaces (repeatable; default: all, or $${ENV.watchNamespace})
  --leader-elect / --no-leader-elect
                                 take a Lease so only one replica reconciles (default: on)
  --lease-namespace NS           namespace of the Lease (default: $${ENV.podNamespace}, else the kubeconfig's, else default)
  --lease-name NAME              default mqtt2pg-operator
  --lease-duration DURATION      how long a dead leader blocks the others (default 15s)
  --renew-deadline DURATION      how long the leader retries renewing before it gives up (default 10s)
  --retry-period DURATION        between Lease attempts (default 2s)
  --identity ID                  this candidate's name in the Lease (default: host name + random suffix)
  --concurrency N                pipelines reconciled at once (default 4; one pipeline is never reconciled twice at once)
  --resync DURATION              re-check every pipeline this often even without changes (default 10m)
  --watch-timeout DURATION       server-side watch timeout; watches resume from their resourceVersion (default 5m)
  --listen HOST:PORT             /metrics, /healthz, /readyz (default :${OPERATOR_PORT.port}; port 0 picks one and logs it)
  --worker-image IMAGE           default worker image (default ghcr.io/mqtt2pg/mqtt2pg:<version>; spec.image wins)
  --pgbouncer-image IMAGE        default PgBouncer image (default ghcr.io/cloudnative-pg/pgbouncer:1.24.1)
  --allowed-images LIST          repositories spec.image and spec.sink.pgbouncer.image may name: comma-separated
                                 repositories (ghcr.io/acme/mqtt2pg), prefixes (registry.acme.io/iot/*) or *
                                 (any); default: the repository of --worker-image. The default images are
                                 always allowed; a pipeline naming another image is Degraded, nothing applied
  --drain-timeout DURATION       a WAL drain Job's attempt gives up, reports what is left and retries when
                                 nothing could be flushed for this long (default 1m)
  --log-level LEVEL              trace, debug, info (default), warn, error`;

function duration(flag: string, value: string | undefined, dflt: string): number {
  try {
    return parseDurationMs(value ?? dflt);
  } catch {
    throw new Error(`--${flag} "${value}" is not a duration; use e.g. 500ms, 15s or 2m`);
  }
}

/** Passed to `mqtt2pg drain --timeout` as written, so checked here with the same parser. */
function drainTimeout(value: string): string {
  if (duration('drain-timeout', value, value) <= 0) throw new Error(`--drain-timeout "${value}" must be longer than 0`);
  return value;
}

function leaseNamespaceDefault(): string {
  return process.env[ENV.podNamespace] || 'default';
}

export async function runOperatorCommand(argv: string[]): Promise<number> {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      allowNegative: true,
      strict: true,
      options: {
        'watch-namespace': { type: 'string', multiple: true },
        'leader-elect': { type: 'boolean', default: true },
        'lease-namespace': { type: 'string' },
        'lease-name': { type: 'string', default: 'mqtt2pg-operator' },
        'lease-duration': { type: 'string' },
        'renew-deadline': { type: 'string' },
        'retry-period': { type: 'string' },
        identity: { type: 'string' },
        concurrency: { type: 'string', default: '4' },
        resync: { type: 'string' },
        'watch-timeout': { type: 'string' },
        listen: { type: 'string', default: `:${OPERATOR_PORT.port}` },
        'worker-image': { type: 'string' },
        'pgbouncer-image': { type: 'string' },
        'allowed-images': { type: 'string' },
        'drain-timeout': { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`mqtt2pg operator: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    const nsFlags = (values['watch-namespace'] as string[] | undefined) ?? [];
    const namespaces = (nsFlags.length > 0 ? nsFlags : [process.env[ENV.watchNamespace] ?? ''])
      .flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter(Boolean);
    const concurrency = Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw new Error(`--concurrency "${values.concurrency}" must be an integer from 1 to 64`);
    }
    const level = String(values['log-level']);
    if (!['trace', 'debug', 'info', 'warn', 'error'].includes(level)) {
      throw new Error(`--log-level "${level}" must be one of trace, debug, info, warn, error`);
    }
    const opts = {
      namespaces: [...new Set(namespaces)],
      leaderElect: values['leader-elect'] !== false,
      leaseNamespace: (values['lease-namespace'] as string | undefined) ?? leaseNamespaceDefault(),
      leaseName: String(values['lease-name']),
      leaseDurationMs: duration('lease-duration', values['lease-duration'] as string | undefined, '15s'),
      renewDeadlineMs: duration('renew-deadline', values['renew-deadline'] as string | undefined, '10s'),
      retryPeriodMs: duration('retry-period', values['retry-period'] as string | undefined, '2s'),
      ...(values.identity ? { identity: String(values.identity) } : {}),
      concurrency,
      resyncMs: duration('resync', values.resync as string | undefined, '10m'),
      watchTimeoutSeconds: Math.max(
        1,
        Math.round(duration('watch-timeout', values['watch-timeout'] as string | undefined, '5m') / 1000),
      ),
      listen: String(values.listen),
      ...(values['worker-image'] ? { workerImage: String(values['worker-image']) } : {}),
      ...(values['pgbouncer-image'] ? { pgbouncerImage: String(values['pgbouncer-image']) } : {}),
      ...(values['allowed-images'] ? { allowedImages: parseAllowedImages(String(values['allowed-images'])) } : {}),
      ...(values['drain-timeout'] ? { drainTimeout: drainTimeout(String(values['drain-timeout'])) } : {}),
      logLevel: level,
    };
    if (opts.leaderElect) validateLeaderElection(opts);
    return await runOperator(opts);
  } catch (err) {
    console.error(`mqtt2pg operator: ${(err as Error).message}`);
    return 2;
  }
}
