// Device traffic for a test pipeline: mqtt2pg's own loadgen against the test environment's broker, with
// the defaults the suites share. Ids are "<runId>-<n>" (see test/lib/ledger.ts).

import { type LoadgenOptions, type LoadgenSummary, runLoadgen } from '../../worker/loadgen.ts';
import { requireEnv } from './env.ts';

export function publish(
  pathPrefix: string,
  runId: string,
  o: Partial<LoadgenOptions> & ({ count: number } | { durationMs: number }),
): Promise<LoadgenSummary> {
  return runLoadgen({
    url: requireEnv('MQTT_URL'),
    username: requireEnv('MQTT_USERNAME'),
    password: requireEnv('MQTT_PASSWORD'),
    rate: 0,
    devices: 50,
    tenants: 3,
    qos: 1,
    payloadBytes: 200,
    malformedRatio: 0,
    connections: 1,
    inflight: 500,
    protocolVersion: 5,
    runId,
    pathPrefix,
    ...o,
  });
}
