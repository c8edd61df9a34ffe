// The reference service, mqtt2db-go v0.1.2, measured on the same broker, PostgreSQL, PgBouncer and load as
// mqtt2pg (issue 7, item 4). Its code never enters this repository: the bench runs a binary built elsewhere,
// named by BENCH_REFERENCE_BIN (the service) and BENCH_REFERENCE_MIGRATE (its migration command).
//
// What it does, against the test environment:
//   1. a fresh schema in our database for its tables (its config takes a schema; the migrations run with
//      search_path set to it, directly against PostgreSQL like any operator step); a YAML config pointing it
//      at Mosquitto, at PostgreSQL through PgBouncer (its documented deployment) and at MinIO for its DLQ;
//   2. a shared subscription on its own topic path; our loadgen offers our sustained rate for the sustained
//      duration, then publishes flat out; committed rows come from its own `mqtt2db_flusher_inserted_total`,
//      CPU from /proc/<pid>/stat, RSS from /proc/<pid>/status, latency from its table;
//   3. a kill -9 run: messages at a moderate rate, SIGKILL twice mid-stream with a restart each time, then
//      the ids loadgen got PUBACKs for are looked up in its table.

// The phases are in reference-measure.ts, the process in reference-process.ts, the result in
// reference-result.ts.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { measureReference, type ReferenceEnv } from './reference-measure.ts';
import { type ReferenceResult, unavailableReference } from './reference-result.ts';

const run = promisify(execFile);

/** The entry point for bench/run.ts: unavailable unless both binaries are named; never throws. */
export async function benchReference(o: {
  sustainedRate: number;
  sustainSeconds: number;
  payloadBytes: number;
  say: (msg: string) => void;
}): Promise<ReferenceResult> {
  const bin = process.env.BENCH_REFERENCE_BIN;
  const migrateBin = process.env.BENCH_REFERENCE_MIGRATE;
  if (!bin || !migrateBin) return unavailableReference();
  for (const b of [bin, migrateBin]) if (!existsSync(b)) return unavailableReference(`${b} does not exist`);
  const migrationsDir = await findMigrations(bin);
  if (!migrationsDir)
    return unavailableReference(
      'its migrations/ directory was not found next to the binary or in the Go module cache; set BENCH_REFERENCE_MIGRATIONS',
    );
  const e = (name: string) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
  };
  try {
    const env: ReferenceEnv = {
      mqttUrl: e('MQTT_URL'),
      mqttUser: e('MQTT_USERNAME'),
      mqttPassword: e('MQTT_PASSWORD'),
      databaseUrl: e('DATABASE_URL'),
      pgbouncerUrl: e('PGBOUNCER_URL'),
      s3: {
        endpoint: e('S3_ENDPOINT'),
        bucket: e('S3_BUCKET'),
        region: process.env.S3_REGION ?? 'us-east-1',
        accessKey: e('S3_ACCESS_KEY_ID'),
        secretKey: e('S3_SECRET_ACCESS_KEY'),
      },
    };
    return await measureReference(env, {
      bin: resolve(bin),
      migrateBin: resolve(migrateBin),
      migrationsDir,
      rate: o.sustainedRate,
      sustainSeconds: o.sustainSeconds,
      flatOutCount: Number(process.env.BENCH_REFERENCE_FLAT_OUT_COUNT ?? 300_000),
      killCount: Number(process.env.BENCH_REFERENCE_KILL_COUNT ?? 100_000),
      killRate: Number(process.env.BENCH_REFERENCE_KILL_RATE ?? 5000),
      payloadBytes: o.payloadBytes,
      say: o.say,
    });
  } catch (err) {
    return unavailableReference(`measurement failed: ${(err as Error).message}`);
  }
}

/** BENCH_REFERENCE_MIGRATIONS, else `../migrations` next to the binary, else the module cache of `go install`. */
export async function findMigrations(bin: string): Promise<string | undefined> {
  const candidates = [process.env.BENCH_REFERENCE_MIGRATIONS, join(dirname(resolve(bin)), '..', 'migrations')];
  try {
    const cache = (await run('go', ['env', 'GOMODCACHE'])).stdout.trim();
    if (cache) candidates.push(join(cache, 'github.com', 'debsahu', 'mqtt2db-go@v0.1.2', 'migrations'));
  } catch {
    // no Go toolchain here: only the explicit locations count
  }
  return candidates.find((c): c is string => !!c && existsSync(join(c, '0001_init.up.sql')));
}
