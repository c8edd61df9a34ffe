// The measurement phases against one mqtt2db-go (bench/reference.ts says what they are): its schema and
// migrations, its config, then the sustained, flat-out and kill -9 runs, read from its metrics and its table.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../test/lib/free-port.ts';
import { runLoadgen } from '../worker/loadgen.ts';
import { quantile } from './histogram.ts';
import { Reference, type Sample, sleep, tail } from './reference-process.ts';
import { REFERENCE_MODULE, REFERENCE_SETTINGS, type ReferenceMeasured } from './reference-result.ts';

const run = promisify(execFile);

export interface ReferenceEnv {
  mqttUrl: string;
  mqttUser: string;
  mqttPassword: string;
  /** Direct to PostgreSQL: migrations, schema, and reading its table. */
  databaseUrl: string;
  /** What the service itself uses. */
  pgbouncerUrl: string;
  s3: { endpoint: string; bucket: string; region: string; accessKey: string; secretKey: string };
}

export interface ReferenceOptions {
  bin: string;
  migrateBin: string;
  migrationsDir: string;
  /** Our sustained rate: offered to the reference for `sustainSeconds`. */
  rate: number;
  sustainSeconds: number;
  flatOutCount: number;
  killCount: number;
  killRate: number;
  payloadBytes: number;
  say: (msg: string) => void;
}

export async function measureReference(env: ReferenceEnv, o: ReferenceOptions): Promise<ReferenceMeasured> {
  const tag = `ref${Date.now().toString(36)}`;
  const schema = `bench_${tag}`;
  const path = tag;
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-bench-reference-'));
  const db = new pg.Client({ connectionString: env.databaseUrl });
  await db.connect();
  let ref: Reference | undefined;
  try {
    // (1) Its own schema, its own migrations, its own config.
    await db.query(`CREATE SCHEMA "${schema}"`);
    const migrateDsn = new URL(env.databaseUrl);
    migrateDsn.searchParams.set('sslmode', 'disable');
    migrateDsn.searchParams.set('search_path', schema);
    await run(o.migrateBin, ['--dsn', migrateDsn.toString(), '--source', `file://${resolve(o.migrationsDir)}`, 'up']);
    const serviceDsn = new URL(env.pgbouncerUrl);
    serviceDsn.searchParams.set('sslmode', 'disable');
    const [metricsPort, healthPort] = [await freePort(), await freePort()];
    const mqttUrl = new URL(env.mqttUrl);
    // Each phase gets a fresh process, WAL directory, MQTT session and share group (same schema and topic
    // path), so a backlog left by one phase does not weigh on the next.
    const configFor = (phase: string) => ({
      mqtt: {
        brokers: [`tcp://${mqttUrl.host}`],
        client_id_prefix: `mqtt2db-${tag}-${phase}`,
        shared_subscription: `$share/${tag}${phase}/t/+/d/+/evt/${path}/#`,
        username: env.mqttUser,
        password: env.mqttPassword,
        protocol_version: 5,
      },
      buffer: { max_messages: REFERENCE_SETTINGS.ringMaxMessages },
      badger: { path: join(dir, `wal-${phase}`), sync_writes: REFERENCE_SETTINGS.badgerSyncWrites },
      postgres: {
        dsn: serviceDsn.toString(),
        max_conns: REFERENCE_SETTINGS.maxConns,
        schema,
        table: 'telemetry',
      },
      flusher: {
        batch_size: REFERENCE_SETTINGS.batchSize,
        flush_interval: `${REFERENCE_SETTINGS.flushIntervalMs}ms`,
        workers: REFERENCE_SETTINGS.flusherWorkers,
      },
      dead_letter: {
        s3: {
          bucket: env.s3.bucket,
          region: env.s3.region,
          endpoint: env.s3.endpoint,
          use_path_style: true,
          use_ssl: env.s3.endpoint.startsWith('https:'),
          access_key: env.s3.accessKey,
          secret_key: env.s3.secretKey,
        },
      },
      metrics: { listen: `127.0.0.1:${metricsPort}`, path: '/metrics' },
      health: { listen: `127.0.0.1:${healthPort}` },
      logging: { level: 'info', format: 'json' },
    });
    const configPath = join(dir, 'config.yaml');
    const logPath = join(dir, 'mqtt2db-go.log');
    ref = new Reference(o.bin, configPath, logPath, metricsPort, healthPort);
    const r = ref;
    const freshProcess = async (phase: string) => {
      if (r.child) await r.kill('SIGTERM');
      // JSON is YAML: no YAML writer needed.
      writeFileSync(configPath, `${JSON.stringify(configFor(phase), null, 2)}\n`);
      r.start();
      await r.waitReady();
    };
    await freshProcess('sus');

    const load = (runId: string, rate: number, n: { count?: number; durationMs?: number }) => {
      r.progress = { sent: 0, acked: 0, errors: 0, elapsedMs: 0 };
      return runLoadgen({
        url: env.mqttUrl,
        username: env.mqttUser,
        password: env.mqttPassword,
        rate,
        ...n,
        devices: 200,
        tenants: 10,
        qos: 1,
        payloadBytes: o.payloadBytes,
        malformedRatio: 0,
        connections: 1,
        inflight: 1000,
        protocolVersion: 5,
        runId,
        pathPrefix: path,
        onProgress: (p) => {
          r.progress = p;
        },
      });
    };
    /** Samples every second until `target` more rows are in (or nothing moves for `stallS`). */
    const watchUntil = async (label: string, from: Sample, target: () => number, stallS: number) => {
      const samples: Sample[] = [];
      let lastMove = Date.now();
      let last = from.inserted;
      for (;;) {
        const s = await r.sample();
        samples.push(s);
        if (s.inserted !== last) lastMove = Date.now();
        last = s.inserted;
        o.say(
          `  ${label}: committed ${s.inserted - from.inserted}/${target()} ring ${s.ringDepth} wal ${s.walBacklog}`,
        );
        if (s.inserted - from.inserted >= target() && s.ringDepth === 0 && s.walBacklog === 0) return samples;
        if (Date.now() - lastMove > stallS * 1000) return samples;
        await sleep(1000);
      }
    };

    o.say('reference: warm-up, 1000 messages');
    const w0 = await r.sample();
    const warm = await load(`${tag}-warm`, 2000, { count: 1000 });
    await watchUntil('warm-up', w0, () => warm.acked, 60);

    // (2a) Our sustained rate, for the sustained duration.
    o.say(`reference: ${o.rate} msg/s offered for ${o.sustainSeconds}s (our sustained rate)`);
    const s0 = await r.sample();
    const sustainedRun = `${tag}-sus`;
    let loadDone = false;
    const sus = load(sustainedRun, o.rate, { durationMs: o.sustainSeconds * 1000 }).finally(() => {
      loadDone = true;
    });
    const during: Sample[] = [s0];
    while (!loadDone) {
      await sleep(1000);
      const s = await r.sample();
      during.push(s);
      o.say(
        `  sustained: committed ${s.inserted - s0.inserted} of ${s.published} ring ${s.ringDepth} wal ${s.walBacklog}`,
      );
    }
    const susSummary = await sus;
    const sEnd = await r.sample();
    const after = await watchUntil('catch-up', s0, () => susSummary.acked, 60);
    const sDone = after.at(-1) ?? sEnd;
    const caughtUp = sDone.inserted - s0.inserted >= susSummary.acked;
    const sFirst = during[1] ?? s0;
    const sustainedRate = Math.round((sEnd.inserted - sFirst.inserted) / Math.max(0.001, sEnd.t - sFirst.t));
    const lagEnd = susSummary.acked - (sEnd.inserted - s0.inserted);
    const mid = during[Math.floor(during.length / 2)] ?? s0;
    const lagMid = mid.published - (mid.inserted - s0.inserted);
    const held = lagEnd <= Math.max(o.rate, 5000) && lagEnd <= lagMid + o.rate * 0.5;
    const cpuPer100k = ((sDone.cpu - s0.cpu) / Math.max(1, sDone.inserted - s0.inserted)) * 100_000;
    const latency = await db.query<{ p50: number | null; p99: number | null; max: number | null }>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY l) AS p99,
              max(l) AS max
         FROM (SELECT extract(epoch FROM inserted_at - received_at) * 1000 AS l FROM "${schema}".telemetry
                WHERE convert_from(payload, 'UTF8')::jsonb->>'run' = $1) x`,
      [sustainedRun],
    );
    const lat = latency.rows[0];
    const flushP = (q: number) => quantile(s0.flushBuckets, sDone.flushBuckets, q);

    // (2b) Flat out.
    o.say(`reference: ${o.flatOutCount} messages as fast as the broker takes them (fresh process)`);
    await freshProcess('max');
    const f0 = await r.sample();
    let flatDone = false;
    const flat = load(`${tag}-max`, 0, { count: o.flatOutCount }).finally(() => {
      flatDone = true;
    });
    const flatSamples = await watchUntil('flat out', f0, () => (flatDone ? r.progress.acked : o.flatOutCount), 60);
    const flatSummary = await flat;
    const fLast = flatSamples.at(-1) ?? f0;
    const flatRate = Math.round((fLast.inserted - f0.inserted) / Math.max(0.001, fLast.t - f0.t));
    const flatCpuPer100k = ((fLast.cpu - f0.cpu) / Math.max(1, fLast.inserted - f0.inserted)) * 100_000;
    const peakRss = Math.max(...during.map((s) => s.rss), ...after.map((s) => s.rss), ...flatSamples.map((s) => s.rss));

    // (3) kill -9 twice mid-stream, restart each time, then look for every acknowledged id.
    const killRun = `${tag}-kill`;
    o.say(`reference: kill -9 run, ${o.killCount} messages at ${o.killRate}/s, SIGKILL at 30% and 65% (fresh process)`);
    await freshProcess('kill');
    let killLoadDone = false;
    const killLoad = load(killRun, o.killRate, { count: o.killCount }).finally(() => {
      killLoadDone = true;
    });
    let kills = 0;
    for (const at of [0.3, 0.65]) {
      while (!killLoadDone && r.progress.acked < o.killCount * at) await sleep(50);
      if (killLoadDone) break;
      await r.kill('SIGKILL');
      kills++;
      o.say(`  SIGKILL #${kills} at ${r.progress.acked} acknowledged publishes; restarting`);
      await sleep(1000);
      r.start();
      await r.waitReady();
    }
    const killSummary = await killLoad;
    const k0 = await r.sample();
    // Its retries back off up to 16 s per attempt: wait for 45 s without progress before counting.
    await watchUntil('after kills', { ...k0, inserted: 0 }, () => Number.POSITIVE_INFINITY, 45);
    const found = await db.query<{ seq: number; n: number }>(
      `SELECT (convert_from(payload, 'UTF8')::jsonb->>'seq')::int AS seq, count(*)::int AS n FROM "${schema}".telemetry
        WHERE convert_from(payload, 'UTF8')::jsonb->>'run' = $1 GROUP BY 1`,
      [killRun],
    );
    const present = new Set(found.rows.map((x) => x.seq));
    const rows = found.rows.reduce((a, x) => a + x.n, 0);
    // loadgen numbers messages 0..sent-1; with no publish errors every one of them was acknowledged.
    const lost: number[] = [];
    for (let n = 0; n < killSummary.sent; n++) if (!present.has(n)) lost.push(n);
    if (killSummary.errors > 0)
      o.say(`  ${killSummary.errors} publishes failed: the lost count is an upper bound by that much`);

    const log = readFileSync(logPath, 'utf8');
    const events = (name: string) => log.split('\n').filter((l) => l.includes(`"event":"${name}"`));
    const flushErrorLines = events('flush_error');
    const firstError = flushErrorLines[0] ? (JSON.parse(flushErrorLines[0]) as { err?: string }).err : undefined;

    return {
      module: REFERENCE_MODULE,
      available: true,
      binary: o.bin,
      settings: { ...REFERENCE_SETTINGS, schema, sharedSubscription: `$share/${tag}<phase>/t/+/d/+/evt/${path}/#` },
      offeredRateMsgPerS: o.rate,
      sustainedRateMsgPerS: sustainedRate,
      held,
      catchUpSeconds: caughtUp ? round2(sDone.t - sEnd.t) : null,
      flatOutMsgPerS: flatRate,
      flatOutMessages: flatSummary.acked,
      latencyMs: {
        source:
          'its table: inserted_at − received_at (inserted_at is now() of the flush transaction, i.e. when the COPY began; the flush itself is flushDurationMs)',
        p50: roundMs(lat?.p50),
        p99: roundMs(lat?.p99),
        max: roundMs(lat?.max),
      },
      flushDurationMs: { p50: secToMs(flushP(0.5)), p99: secToMs(flushP(0.99)) },
      cpuSecondsPer100k: round2(cpuPer100k),
      cpuSecondsPer100kFlatOut: round2(flatCpuPer100k),
      peakRssBytes: peakRss,
      flushErrors: {
        count: flushErrorLines.length,
        first: firstError ?? null,
        requeuedToWal: events('requeue_to_wal').length,
        deadLetteredBatches: events('dead_letter').length,
      },
      killRun: {
        published: killSummary.sent,
        acked: killSummary.acked,
        publishErrors: killSummary.errors,
        kills,
        rows,
        distinctIds: present.size,
        duplicates: rows - present.size,
        ackedButLost: lost.length,
        lostSample: lost.slice(0, 5).map((n) => `${killRun}-${n}`),
      },
    };
  } catch (err) {
    const logTail = ref ? tail(ref.logPath) : '';
    throw new Error(`${(err as Error).message}${logTail ? ` (log: ${logTail})` : ''}`);
  } finally {
    if (ref) await ref.kill('SIGTERM');
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await db.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const roundMs = (v: number | string | null | undefined) => (v === null || v === undefined ? null : round2(Number(v)));
const secToMs = (s: number | null) => (s === null ? null : round2(s * 1000));
