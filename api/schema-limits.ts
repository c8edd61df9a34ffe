// spec.limits: what one message may be. Each limit has a place to go for what exceeds it (docs/reliability.md
// "Limits"): the unparseable table, with a reason naming the limit, or for the packet cap the broker, which
// does not send the worker a larger packet.

import type { ResolvedPipeline } from './defaults.ts';
import { bytes, int, obj, type Schema } from './schema-builders.ts';
import { formatBytes } from './units.ts';

export const limitsSchema: Schema = obj(
  'What one message may be. Messages past a limit go to the unparseable table with a reason naming the limit, checked before COPY, so they never stall or split a batch (docs/reliability.md "Limits").',
  {
    maxPayloadSize: bytes(
      'Largest payload stored as a row; a larger one goes to the unparseable table (reason payload_too_large). Defaults to 256Ki.',
      '256Ki',
    ),
    maxPacketSize: bytes(
      'Maximum Packet Size the worker advertises in its MQTT 5 CONNECT: the broker never sends it a larger PUBLISH (MQTT 5 says the server discards it for this client without telling the publisher; Mosquitto does). The hard cap on what one message costs the worker; must exceed maxPayloadSize, at most 268435455 bytes. Not sent with protocolVersion 4, which has no such property. Defaults to 4 × maxPayloadSize.',
      '1Mi',
    ),
    maxJsonDepth: int(
      "Deepest nesting of arrays and objects a JSON payload may have; a deeper one goes to the unparseable table (reason json_too_deep) instead of failing PostgreSQL's jsonb parser with SQLSTATE 54001. Defaults to 64.",
      { minimum: 1, maximum: 10000 },
    ),
  },
);

/** The largest Remaining Length MQTT can encode (256 MiB - 1): no packet is larger, so no larger cap means anything. */
export const MQTT_MAX_PACKET_BYTES = 268_435_455;

/** Checks of spec.limits that need the defaults applied (load-pipeline.ts reports them with the schema's). */
export function limitProblems(l: ResolvedPipeline['limits']): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  if (l.maxPacketSizeBytes <= l.maxPayloadSizeBytes) {
    out.push({
      path: 'spec.limits.maxPacketSize',
      message: `must exceed limits.maxPayloadSize (${formatBytes(l.maxPayloadSizeBytes)}): a packet holds the topic and properties besides the payload`,
    });
  }
  if (l.maxPacketSizeBytes > MQTT_MAX_PACKET_BYTES) {
    out.push({
      path: 'spec.limits.maxPacketSize',
      message: `must be at most ${MQTT_MAX_PACKET_BYTES} bytes, the largest packet MQTT can frame; lower it (or limits.maxPayloadSize, whose 4 × is its default)`,
    });
  }
  return out;
}
