// `mqtt2pg loadgen`: synthetic device traffic with a progress line and a final JSON summary.

import { randomBytes } from 'node:crypto';
import { parseDurationMs } from '../api/units.ts';
import { runLoadgen } from '../worker/loadgen.ts';
import { HelpRequested, parseCommandArgs, UsageError } from './args.ts';

const USAGE = `Usage: mqtt2pg loadgen [options]

Publishes device-shaped traffic on t/{tenant}/d/{device_uuid}/evt/{path}/{n % 4}; every JSON payload
carries a unique id "<run-id>-<n>". Progress goes to stderr each second; a JSON summary to stdout.

  --url URL              broker (default $MQTT_URL, else mqtt://127.0.0.1:1883)
  --username U           (default $MQTT_USERNAME)   --password P   (default $MQTT_PASSWORD)
  --rate N               messages/s in total; 0 = as fast as the broker acknowledges (default 1000)
  --duration D           how long, e.g. 30s (default 10s unless --count is given)
  --count N              how many messages
  --devices N            distinct device UUIDs (default 100)
  --tenants N            distinct tenants (default 5)
  --qos 0|1              (default 1)
  --payload-bytes N      JSON payload size (default 200)
  --malformed-ratio R    share of contract violations, 0..1 (default 0)
  --connections N        publisher connections (default 1)
  --inflight N           unacknowledged QoS 1 publishes per connection (default 1000)
  --protocol 4|5         MQTT version (default 5)
  --run-id ID            id prefix (default random)
  --path P               topic levels after evt/ (default telemetry)
  --quiet                no progress line`;

const num = (name: string, v: unknown, dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER) => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`mqtt2pg loadgen: --${name} must be a number from ${min} to ${max} (got "${String(v)}")`);
  }
  return n;
};

export async function runLoadgenCommand(argv: string[]): Promise<number> {
  try {
    const { values: v } = parseCommandArgs(
      'loadgen',
      argv,
      {
        url: { type: 'string' },
        username: { type: 'string' },
        password: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        count: { type: 'string' },
        devices: { type: 'string' },
        tenants: { type: 'string' },
        qos: { type: 'string' },
        'payload-bytes': { type: 'string' },
        'malformed-ratio': { type: 'string' },
        connections: { type: 'string' },
        inflight: { type: 'string' },
        protocol: { type: 'string' },
        'run-id': { type: 'string' },
        path: { type: 'string' },
        quiet: { type: 'boolean' },
      },
      USAGE,
    );
    const count = v.count !== undefined ? num('count', v.count, 0, 1) : undefined;
    let durationMs: number | undefined;
    try {
      durationMs =
        v.duration !== undefined ? parseDurationMs(v.duration as string) : count === undefined ? 10_000 : undefined;
    } catch (err) {
      throw new UsageError(`mqtt2pg loadgen: --duration: ${(err as Error).message}`);
    }
    const qos = num('qos', v.qos, 1, 0, 1) as 0 | 1;
    const protocol = num('protocol', v.protocol, 5, 4, 5);
    if (protocol !== 4 && protocol !== 5) throw new UsageError('mqtt2pg loadgen: --protocol must be 4 or 5');
    const username = (v.username as string | undefined) ?? process.env.MQTT_USERNAME;
    const password = (v.password as string | undefined) ?? process.env.MQTT_PASSWORD;
    const quiet = Boolean(v.quiet);
    const summary = await runLoadgen({
      url: (v.url as string | undefined) ?? process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883',
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      rate: num('rate', v.rate, 1000),
      ...(durationMs !== undefined ? { durationMs } : {}),
      ...(count !== undefined ? { count } : {}),
      devices: num('devices', v.devices, 100, 1),
      tenants: num('tenants', v.tenants, 5, 1),
      qos,
      payloadBytes: num('payload-bytes', v['payload-bytes'], 200, 0, 256 * 1024 * 1024),
      malformedRatio: num('malformed-ratio', v['malformed-ratio'], 0, 0, 1),
      connections: num('connections', v.connections, 1, 1, 64),
      inflight: num('inflight', v.inflight, 1000, 1, 65535),
      protocolVersion: protocol,
      runId: (v['run-id'] as string | undefined) ?? randomBytes(4).toString('hex'),
      pathPrefix: (v.path as string | undefined) ?? 'telemetry',
      ...(quiet
        ? {}
        : {
            onProgress: (p) =>
              process.stderr.write(
                `loadgen: ${(p.elapsedMs / 1000).toFixed(0)}s sent ${p.sent} acked ${p.acked} (${Math.round((p.acked / Math.max(1, p.elapsedMs)) * 1000)}/s) errors ${p.errors}\n`,
              ),
          }),
    });
    console.log(JSON.stringify(summary));
    return summary.errors > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof HelpRequested) throw err;
    const e = err as Error;
    console.error(
      `mqtt2pg loadgen: ${e.message}${/ECONNREFUSED/.test(e.message) ? ' (is the broker running? check --url)' : ''}`,
    );
    return 1;
  }
}
