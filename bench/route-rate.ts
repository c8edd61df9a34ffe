// What a typed route costs against the plain default route (issue 15, issue 17 goal 5): the sustained
// end-to-end rate (publisher → Mosquitto → worker → PostgreSQL through PgBouncer, rows committed) of
// (a) the default route (whole payload in jsonb) and (b) the factory example's readings route
// (manifests/examples/factory.yaml: topic captures, typed measurements from JSON paths and a user property, a
// timestamp column, a dedup key, daily partitions), both in one run and each ÷ that run's broker limit.
// bench/run.ts calls routeRates(); alone: `node bench/route-rate.ts` with the test environment's variables
// (.test-env/env) measures the broker limit itself, prints the figures and writes bench/results/route-rate.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RouteSpec } from '../api/types.ts';
import { REPO_ROOT, requireEnv } from '../test/lib/env.ts';
import { publish } from '../test/lib/publish.ts';
import {
  cleanupDirs,
  makePipeline,
  makeRoutePipeline,
  pipelineCommand,
  type TestPipeline,
} from '../test/lib/worker-process.ts';
import type { CustomMessage } from '../worker/loadgen.ts';
import { brokerLimit, type Env } from './limits.ts';
import { ladder, type Offer, probe, startWorkers, stopWorkers, sustainedCommitRate } from './sustain.ts';

const PAYLOAD = 200;
const MACHINES = 200;
/** Seconds per ladder step; short, as the two routes take up to four steps each. */
export const ROUTE_SUSTAIN_S = Number(process.env.BENCH_ROUTE_SUSTAIN_SECONDS ?? 15);
const spec = { flusher: { retry: { initialBackoff: '50ms', maxBackoff: '1s' } } };

export interface RouteRate {
  probeRate: number;
  offeredRate: number;
  held: boolean;
  sustainedRate: number;
  vsBroker: number;
}

export interface RouteRates {
  brokerRate: number;
  sustainSeconds: number;
  plain: RouteRate;
  typed: RouteRate;
  typedVsPlain: number;
}

/** The factory readings route under the pipeline's own topic level and table prefix. */
export const readingsRoute = (p: TestPipeline): RouteSpec => ({
  name: 'readings',
  topicFilter: `${p.path}/plant/+/line/+/machine/+/reading`,
  topicPattern: `${p.path}/plant/{plant}/line/{line}/machine/{machine}/reading`,
  table: `${p.table}_readings`,
  payloadFormat: 'json',
  columns: [
    { name: 'plant', type: 'text', from: 'topic.plant', required: true },
    { name: 'line', type: 'text', from: 'topic.line', required: true },
    { name: 'machine', type: 'text', from: 'topic.machine', required: true },
    { name: 'measured_at', type: 'timestamptz', from: 'payload.ts', format: 'epochMillis', required: true },
    { name: 'temperature', type: 'double precision', from: 'payload.temperature' },
    { name: 'vibration', type: 'real', from: 'payload.vibration.rms' },
    { name: 'spindle_rpm', type: 'integer', from: 'payload.spindle.rpm' },
    { name: 'parts_total', type: 'bigint', from: 'payload.counters.parts' },
    { name: 'running', type: 'boolean', from: 'payload.running' },
    { name: 'firmware', type: 'text', from: 'property.fw-version' },
    { name: 'extra', type: 'jsonb', from: 'payload.extra' },
    { name: 'received_at', type: 'timestamptz', from: 'receivedAt', required: true },
  ],
  dedup: { key: ['machine', 'measured_at'] },
  partitioning: { column: 'measured_at', interval: '1d', retention: '90d', premake: 4 },
});

/**
 * Reading n of a run: machine n % MACHINES, measured at the run's start + n ms, so (machine, measured_at) is
 * unique within the run; the run id in the machine name keeps runs apart (no reading is a duplicate).
 */
export function factoryReading(p: TestPipeline, runId: string, startMs: number, n: number): CustomMessage {
  const m = n % MACHINES;
  const body = {
    ts: startMs + n,
    temperature: 20 + (n % 500) / 10,
    vibration: { rms: (n % 97) / 10 },
    spindle: { rpm: 1000 + (n % 3000) },
    counters: { parts: n },
    running: n % 7 !== 0,
    extra: { run: runId, shift: n % 3, pad: '' },
  };
  body.extra.pad = 'x'.repeat(Math.max(0, PAYLOAD - JSON.stringify(body).length));
  return {
    topic: `${p.path}/plant/p${m % 3}/line/l${m % 10}/machine/${runId}-m${m}/reading`,
    payload: JSON.stringify(body),
    userProperties: { 'fw-version': `1.${m % 4}.0` },
  };
}

const load = (
  p: TestPipeline,
  runId: string,
  rate: number,
  o: { count: number } | { durationMs: number },
  message?: (n: number) => CustomMessage,
) =>
  publish(p.path, runId, {
    rate,
    ...o,
    devices: 200,
    tenants: 10,
    payloadBytes: PAYLOAD,
    inflight: 1000,
    ...(message ? { message } : {}),
  });

async function measure(
  name: string,
  p: TestPipeline,
  offer: Offer,
  o: { brokerRate: number; seconds: number; probeCount: number; say: (m: string) => void },
): Promise<RouteRate> {
  const workers = await startWorkers(p, 1);
  try {
    o.say(`${name}: probe, ${o.probeCount} messages as fast as they come`);
    const probed = await probe(workers, offer, o.probeCount, `${name}-probe`);
    o.say(`  committed ${probed.rate} msg/s (publisher ${probed.published}/s)`);
    const sus = await ladder(workers, offer, {
      start: Math.round(Math.min(probed.rate, o.brokerRate) * 0.9),
      ceiling: o.brokerRate,
      seconds: o.seconds,
      attempts: 4,
      tag: `${name}-sus`,
      say: o.say,
    });
    const sustainedRate = sustainedCommitRate(sus);
    o.say(`  ${name}: ${sustainedRate} msg/s sustained (offered ${sus.rate}, ${sus.held ? 'held' : 'NOT held'})`);
    return {
      probeRate: probed.rate,
      offeredRate: sus.rate,
      held: sus.held,
      sustainedRate,
      vsBroker: round2(sustainedRate / o.brokerRate),
    };
  } finally {
    await stopWorkers(workers);
  }
}

/** (a) the plain default route, then (b) the typed route with dedup into a partitioned table; one worker each. */
export async function routeRates(o: {
  brokerRate: number;
  sustainSeconds: number;
  probeCount?: number;
  say: (m: string) => void;
}): Promise<RouteRates> {
  const m = { brokerRate: o.brokerRate, seconds: o.sustainSeconds, probeCount: o.probeCount ?? 150_000, say: o.say };
  const plainP = makePipeline({ tag: 'rplain', spec });
  const plain = await measure('plain', plainP, (runId, rate, l) => load(plainP, runId, rate, l), m);
  const typedP = makeRoutePipeline((p) => [readingsRoute(p)], { tag: 'rtyped', spec });
  const migrated = await pipelineCommand(typedP, 'migrate');
  if (migrated.code !== 0) throw new Error(`mqtt2pg migrate of the typed route failed: ${migrated.stderr}`);
  const typed = await measure(
    'typed',
    typedP,
    (runId, rate, l) => {
      const startMs = Date.now();
      return load(typedP, runId, rate, l, (n) => factoryReading(typedP, runId, startMs, n));
    },
    m,
  );
  return {
    brokerRate: o.brokerRate,
    sustainSeconds: o.sustainSeconds,
    plain,
    typed,
    typedVsPlain: round2(typed.sustainedRate / Math.max(1, plain.sustainedRate)),
  };
}

/** The rows bench/report.ts prints. */
export const routeRateRows = (r: RouteRates): string[][] => [
  ['plain default route, sustained', `${r.plain.sustainedRate} msg/s (${r.plain.vsBroker} × broker limit)`],
  ['typed route + dedup + partitions', `${r.typed.sustainedRate} msg/s (${r.typed.vsBroker} × broker limit)`],
  ['  typed ÷ plain', `${r.typedVsPlain} (goal ≥ 0.7)`],
];

const round2 = (n: number) => Math.round(n * 100) / 100;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  const say = (msg: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);
  const env: Env = {
    mqttUrl: requireEnv('MQTT_URL'),
    mqttUser: requireEnv('MQTT_USERNAME'),
    mqttPassword: requireEnv('MQTT_PASSWORD'),
    databaseUrl: requireEnv('DATABASE_URL'),
  };
  try {
    say('broker limit: loadgen → Mosquitto → do-nothing subscriber, QoS 1');
    const broker = await brokerLimit(env, 150_000, PAYLOAD);
    say(`  ${broker.rate} msg/s`);
    const r = await routeRates({ brokerRate: broker.rate, sustainSeconds: ROUTE_SUSTAIN_S, probeCount: 100_000, say });
    const out = { timestamp: new Date().toISOString(), durationSeconds: Math.round((Date.now() - t0) / 1000), ...r };
    const dir = join(REPO_ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'route-rate.json'), `${JSON.stringify(out, null, 2)}\n`);
    console.log(`broker-only limit: ${broker.rate} msg/s`);
    for (const [k, v] of routeRateRows(r)) console.log(`  ${k}: ${v}`);
    console.log(JSON.stringify(out));
  } finally {
    cleanupDirs();
  }
}
