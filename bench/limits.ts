// The machine's own limits, measured in the same run as mqtt2pg so results read as ratios:
// the broker alone (publish → Mosquitto → a subscriber that acknowledges at once), PostgreSQL alone
// (psql \copy of the same rows), and the disk alone (append + fdatasync in the WAL's group sizes).

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import pg from 'pg';
import { makeMessage, runLoadgen } from '../worker/loadgen.ts';
import type { InboundMessage } from '../worker/message.ts';
import { migrate } from '../worker/migrate.ts';
import { type TelemetryRow, telemetryLine, toRow } from '../worker/rows.ts';

const run = promisify(execFile);

export interface Env {
  mqttUrl: string;
  mqttUser: string;
  mqttPassword: string;
  databaseUrl: string;
}

/** (a) Broker-only QoS 1: the rate a do-nothing MQTT.js subscriber receives while loadgen publishes flat out. */
export async function brokerLimit(
  env: Env,
  count: number,
  payloadBytes: number,
): Promise<{ rate: number; count: number }> {
  const path = `limit${Date.now()}`;
  const sub = await mqtt.connectAsync(env.mqttUrl, {
    protocolVersion: 5,
    username: env.mqttUser,
    password: env.mqttPassword,
    clientId: `bench-sub-${randomUUID()}`,
    clean: true,
    properties: { receiveMaximum: 2000 },
  });
  let received = 0;
  let first = 0;
  let last = 0;
  const done = new Promise<void>((resolve) => {
    sub.on('message', () => {
      if (received === 0) first = performance.now();
      received++;
      last = performance.now();
      if (received === count) resolve();
    });
  });
  await sub.subscribeAsync(`$share/bench/t/+/d/+/evt/${path}/#`, { qos: 1 });
  await runLoadgen({
    url: env.mqttUrl,
    username: env.mqttUser,
    password: env.mqttPassword,
    rate: 0,
    count,
    devices: 100,
    tenants: 5,
    qos: 1,
    payloadBytes,
    malformedRatio: 0,
    connections: 1,
    inflight: 1000,
    protocolVersion: 5,
    runId: 'limit',
    pathPrefix: path,
  });
  await done;
  await sub.endAsync();
  return { rate: Math.round((received / (last - first)) * 1000), count: received };
}

export function sampleRows(count: number, payloadBytes: number): TelemetryRow[] {
  const devices = Array.from({ length: 100 }, () => randomUUID());
  const o = { runId: 'copy', devices: 100, tenants: 5, payloadBytes, malformedRatio: 0, pathPrefix: 'bench' };
  const rows: TelemetryRow[] = [];
  for (let n = 0; n < count; n++) {
    const m = makeMessage(o, n, devices);
    const msg: InboundMessage = {
      topic: m.topic,
      payload: Buffer.from(m.payload),
      receivedAt: Date.now(),
      qos: 1,
      dup: false,
    };
    rows.push(toRow(msg, 'json', { maxPayloadSizeBytes: 256 * 1024, maxJsonDepth: 64 }) as TelemetryRow);
  }
  return rows;
}

/** (b) PostgreSQL-only: psql \copy of the same rows into the same table shape, direct to the server. */
export async function copyLimit(
  env: Env,
  count: number,
  payloadBytes: number,
): Promise<{ rate: number; count: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-bench-copy-'));
  const file = join(dir, 'rows.copy');
  writeFileSync(file, sampleRows(count, payloadBytes).map(telemetryLine).join(''));
  const schema = `bench_copy_${Date.now()}`;
  const c = new pg.Client({ connectionString: env.databaseUrl });
  await c.connect();
  try {
    await migrate(c, { schema, table: 'telemetry', unparseableTable: 'telemetry_unparseable', payloadFormat: 'json' });
    const t0 = performance.now();
    await run('psql', [
      env.databaseUrl,
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `\\copy "${schema}".telemetry (tenant, device_id, path, payload, received_at) FROM '${file}'`,
    ]);
    const seconds = (performance.now() - t0) / 1000;
    return { rate: Math.round(count / seconds), count };
  } finally {
    await c.query(`DROP SCHEMA "${schema}" CASCADE`).catch(() => {});
    await c.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** (c) Disk-only: append + fdatasync of records of the same size, one sync per group. */
export function diskLimit(recordBytes: number, groupSize: number, groups: number): { rate: number; groupSize: number } {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-bench-disk-'));
  const fd = openSync(join(dir, 'log'), 'a');
  const group = Buffer.alloc(recordBytes * groupSize, 120);
  try {
    const t0 = performance.now();
    for (let g = 0; g < groups; g++) {
      writeSync(fd, group);
      fdatasyncSync(fd);
    }
    const seconds = (performance.now() - t0) / 1000;
    return { rate: Math.round((groups * groupSize) / seconds), groupSize };
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}
