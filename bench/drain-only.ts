// The drain alone (#17 goal 2), without stopping the shared PostgreSQL: a WAL is filled offline with the
// bench's messages, `mqtt2pg drain` (the worker's own flush side: WAL claim → rows → COPY through PgBouncer)
// flushes it into a fresh table, and psql \copy of as many rows into a fresh table of the same shape is timed
// in the same round. Each round gives a ratio; the median of the rounds is the figure (never one sample on a
// shared 2-core machine). Variants are pipeline settings (--flushers, --batch-size, --batch-bytes) and the
// drain process's Node options (--node-options, e.g. the pod's heap settings, or --cpu-prof to profile).
//
//   set -a; . .test-env/env; set +a; node bench/drain-only.ts --rounds 5 --count 300000 [--flushers 2] ...

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { command, requireEnv } from '../test/lib/env.ts';
import { cleanupDirs, makePipeline, pipelineCommand, type TestPipeline } from '../test/lib/worker-process.ts';
import { makeMessage } from '../worker/loadgen.ts';
import { Wal } from '../worker/wal.ts';
import { copyLimit, type Env } from './limits.ts';

const PAYLOAD = 200;
/** Messages per group commit while filling: the order of what a worker under a full-rate burst writes. */
const BURST = 1000;

const { values: o } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    count: { type: 'string', default: '300000' },
    flushers: { type: 'string' },
    'batch-size': { type: 'string' },
    'batch-bytes': { type: 'string' },
    'node-options': { type: 'string', default: '' },
    label: { type: 'string', default: '' },
  },
});
const rounds = Number(o.rounds);
const count = Number(o.count);

const env: Env = {
  mqttUrl: requireEnv('MQTT_URL'),
  mqttUser: requireEnv('MQTT_USERNAME'),
  mqttPassword: requireEnv('MQTT_PASSWORD'),
  databaseUrl: requireEnv('DATABASE_URL'),
};

async function fillWal(p: TestPipeline) {
  const wal = await Wal.open({ dir: p.walDir, sizeLimitBytes: 2 ** 30, retentionMs: 7 * 24 * 3600_000 });
  const devices = Array.from({ length: 200 }, () => randomUUID());
  const shape = { runId: 'drain', devices: 200, tenants: 10, payloadBytes: PAYLOAD, malformedRatio: 0 };
  for (let n = 0; n < count; ) {
    for (const end = Math.min(count, n + BURST); n < end; n++) {
      const m = makeMessage({ ...shape, pathPrefix: p.path }, n, devices);
      wal.append({ topic: m.topic, payload: Buffer.from(m.payload), receivedAt: Date.now(), qos: 1, dup: false });
    }
    await wal.settled();
  }
  await wal.close();
}

interface DrainRun {
  seconds: number;
  rows: number;
  cpuSeconds: number;
}

/** `mqtt2pg drain` as its own process; its CPU seconds from /usr/bin/time. */
function drain(p: TestPipeline): Promise<DrainRun> {
  const args = ['-f', '%U %S', process.execPath, ...o['node-options'].split(' ').filter(Boolean), 'cli/main.ts'];
  args.push('drain', '-f', p.file, '--secrets-dir', p.secretsDir, '--wal-dir', p.walDir);
  return new Promise((resolve, reject) => {
    const c = spawn('/usr/bin/time', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => {
      out += d;
    });
    c.stderr.on('data', (d) => {
      err += d;
    });
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`drain exited ${code}: ${err.slice(-2000)}`));
      const s = JSON.parse(out.trim().split('\n').at(-1) as string) as { seconds: number; rows: number };
      const [user, sys] = (err.trim().split('\n').at(-1) as string).split(' ').map(Number);
      resolve({ seconds: s.seconds, rows: s.rows, cpuSeconds: (user ?? 0) + (sys ?? 0) });
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main() {
  const flusher = {
    ...(o.flushers ? { flushers: Number(o.flushers), maxFlushers: Math.max(8, Number(o.flushers)) } : {}),
    ...(o['batch-size'] ? { batchSize: Number(o['batch-size']) } : {}),
    ...(o['batch-bytes'] ? { batchBytes: o['batch-bytes'] } : {}),
  };
  const results: Array<{ copy: number; drain: number; ratio: number; cpuPer100k: number }> = [];
  for (let r = 0; r < rounds; r++) {
    const p = makePipeline({ tag: 'drainb', dlq: false, spec: { flusher } });
    const migrated = await pipelineCommand(p, 'migrate');
    if (migrated.code !== 0) throw new Error(`migrate failed: ${migrated.stderr}`);
    await fillWal(p);
    const copy = await copyLimit(env, count, PAYLOAD);
    const d = await drain(p);
    if (d.rows !== count) throw new Error(`drained ${d.rows} rows of ${count}`);
    const rate = Math.round(count / d.seconds);
    const row = {
      copy: copy.rate,
      drain: rate,
      ratio: Math.round((rate / copy.rate) * 1000) / 1000,
      cpuPer100k: Math.round((d.cpuSeconds / count) * 100_000 * 100) / 100,
    };
    results.push(row);
    process.stderr.write(`round ${r + 1}/${rounds} ${o.label}: ${JSON.stringify(row)}\n`);
    await command('psql', [env.databaseUrl, '-XAtqc', `DROP TABLE IF EXISTS "${p.table}", "${p.unparseableTable}"`]);
  }
  console.log(
    JSON.stringify({
      label: o.label,
      count,
      flusher,
      nodeOptions: o['node-options'],
      medianRatio: median(results.map((x) => x.ratio)),
      ratios: results.map((x) => x.ratio),
      medianDrain: median(results.map((x) => x.drain)),
      medianCopy: median(results.map((x) => x.copy)),
      medianCpuPer100k: median(results.map((x) => x.cpuPer100k)),
    }),
  );
}

main()
  .catch((err: Error) => {
    console.error(`drain bench failed: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  })
  .finally(() => cleanupDirs());
