// The short form of `make soak` (test/lib/soak.ts, the same code): 100k QoS 1 messages of valid, malformed and
// poison traffic into two workers sharing the subscription, five `kill -9` at seeded random moments; nothing
// acknowledged is lost and every message is in exactly one place. Reproduce with the seed it prints: SOAK_SEED=<seed>.

import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, test } from 'node:test';
import { runSoak } from '../../lib/soak.ts';
import { cleanupDirs } from '../../lib/worker-process.ts';

after(cleanupDirs);

test('100k messages, two workers, five kill -9: nothing acknowledged lost, each message in exactly one place', async (t) => {
  const seed = Number(process.env.SOAK_SEED ?? randomInt(2 ** 31));
  t.diagnostic(`soak seed ${seed}: reproduce with SOAK_SEED=${seed}`);
  const r = await runSoak({
    count: 100_000,
    kills: 5,
    workers: 2,
    seed,
    rate: 5000,
    malformedRatio: 0.02,
    poisonRatio: 0.0005,
    settleTimeoutMs: 60_000,
    onProgress: (line) => t.diagnostic(line),
  });
  t.diagnostic(
    `acknowledged ${r.acknowledged}, stored ${r.stored} (table ${r.table}, unparseable ${r.unparseable}, dlq ${r.dlq}), lost ${r.lost}, in several places ${r.inSeveral}, duplicates ${r.duplicates}; kills ${r.kills}; publish ${r.publishMs} ms, settle ${r.settleMs} ms`,
  );
  assert.equal(r.kills, 5);
  assert.equal(r.acknowledged, r.count, `the broker acknowledged every publish (refused ${r.refused})`);
  assert.equal(r.lost, 0, `lost, e.g. ${r.lostExamples.join(', ')}; reproduce with SOAK_SEED=${seed}`);
  assert.equal(r.inSeveral, 0, `messages in more than one place; reproduce with SOAK_SEED=${seed}`);
  assert.equal(r.stored, r.acknowledged);
  assert.ok(r.unparseable > 0 && r.dlq > 0, 'the mix reached the unparseable table and the DLQ');
  assert.deepEqual(r.workerExitCodes, [0, 0], 'both workers drained and exited 0 on SIGTERM');
});
