// `make soak`: a million QoS 1 messages (valid, malformed, poison) into two workers sharing the subscription,
// twenty `kill -9` at seeded random moments, then the ledger. Not part of `make test` (its short form is
// test/integration/worker/soak-short.test.ts). Prints a progress line while it runs and the figures at the end;
// writes bench/results/soak-latest.json and the figures into docs/reliability.md ("Soak"). Exits 1 on a loss.
// Knobs: SOAK_COUNT, SOAK_KILLS, SOAK_WORKERS, SOAK_RATE (msg/s), SOAK_SEED.

import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { command, REPO_ROOT, requireEnv } from '../test/lib/env.ts';
import { runSoak, type SoakResult } from '../test/lib/soak.ts';
import { cleanupDirs } from '../test/lib/worker-process.ts';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

const BEGIN = '<!-- soak-results:begin (written by make soak) -->';
const END = '<!-- soak-results:end -->';

/** The figures as the Markdown block of docs/reliability.md's Soak section. */
function soakMarkdown(r: SoakResult & { date: string; machine: string }): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return [
    BEGIN,
    `Last run ${r.date} on ${r.machine}: seed ${r.seed}, ${n(r.count)} messages, ${r.workers} workers, ${r.kills} \`kill -9\`.`,
    '',
    '| acknowledged | stored (table + unparseable + DLQ) | lost | in several places | duplicates | publish | settle | total |',
    '|---|---|---|---|---|---|---|---|',
    `| ${n(r.acknowledged)} | ${n(r.stored)} (${n(r.table)} + ${n(r.unparseable)} + ${n(r.dlq)}) | ${n(r.lost)} | ${n(r.inSeveral)} | ${n(r.duplicates)} | ${Math.round(r.publishMs / 1000)} s | ${Math.round(r.settleMs / 1000)} s | ${Math.round(r.elapsedMs / 1000)} s |`,
    END,
  ].join('\n');
}

async function main() {
  const seed = num('SOAK_SEED', randomInt(2 ** 31));
  const count = num('SOAK_COUNT', 1_000_000);
  const t0 = Date.now();
  const say = (msg: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, PostgreSQL ${execFileSync(
    'psql',
    [requireEnv('DATABASE_URL'), '-XAtc', 'show server_version'],
  )
    .toString()
    .trim()}, ${((await command('mosquitto', ['-h'])).stdout.split('\n')[0] ?? '').trim()}`;
  say(`soak: seed ${seed} (reproduce with SOAK_SEED=${seed}); ${machine}`);
  const r = await runSoak({
    count,
    kills: num('SOAK_KILLS', 20),
    workers: num('SOAK_WORKERS', 2),
    seed,
    rate: num('SOAK_RATE', 10_000),
    malformedRatio: 0.02,
    poisonRatio: 0.0002,
    settleTimeoutMs: Math.max(120_000, count / 10),
    onProgress: say,
    progressEveryMs: 10_000,
  });
  const date = new Date().toISOString();
  const result = { ...r, date, machine };
  say(
    `acknowledged ${r.acknowledged}, stored ${r.stored} (table ${r.table} + unparseable ${r.unparseable} + DLQ ${r.dlq}), lost ${r.lost}, in several places ${r.inSeveral}, duplicates ${r.duplicates}, kills ${r.kills}, worker exits ${r.workerExitCodes.join(',')}`,
  );
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'soak-latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  const docPath = join(REPO_ROOT, 'docs', 'reliability.md');
  const doc = readFileSync(docPath, 'utf8');
  const [before, rest] = doc.split(BEGIN);
  const after = rest?.split(END)[1];
  if (before !== undefined && after !== undefined) writeFileSync(docPath, `${before}${soakMarkdown(result)}${after}`);
  else say(`docs/reliability.md has no ${BEGIN} … ${END} block; figures only in bench/results/soak-latest.json`);
  say(`results in bench/results/soak-latest.json and docs/reliability.md (Soak)`);
  cleanupDirs();
  if (r.lost > 0 || r.inSeveral > 0) process.exit(1);
}

await main();
