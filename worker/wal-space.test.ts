// The WAL's disk use on a real LevelDB: the volume is sized from wal.sizeLimit, so the directory must stay
// within a bound of it however many times the log fills and drains (a PostgreSQL outage and its recovery).
// LevelDB alone keeps deleted records on disk until a compaction happens to cover them; with keys that only
// ever grow, none does, and the directory grew by about one size limit per cycle.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Wal } from './wal.ts';

const MiB = 2 ** 20;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Bytes of every file in the directory (LevelDB keeps no subdirectories). */
function dirBytes(dir: string): number {
  let total = 0;
  for (const f of readdirSync(dir)) {
    try {
      total += statSync(join(dir, f)).size;
    } catch {
      // deleted by LevelDB between the listing and the stat
    }
  }
  return total;
}

async function fillToLimit(wal: Wal, sample: () => void): Promise<void> {
  let i = 0;
  while (!wal.full) {
    await new Promise<void>((resolve) => {
      let left = 200;
      for (let k = 0; k < 200; k++) {
        // Random payloads: LevelDB compresses blocks, and real telemetry may not compress either.
        const m = {
          topic: `t/a/d/${i++}`,
          payload: randomBytes(1024),
          receivedAt: Date.now(),
          qos: 1 as const,
          dup: false,
        };
        wal.append(m, () => {
          if (--left === 0) resolve();
        });
      }
    });
    sample();
  }
}

async function drainToEmpty(wal: Wal, sample: () => void): Promise<void> {
  for (let claim = await wal.claim(500); claim; claim = await wal.claim(500)) {
    await wal.commit(claim);
    sample();
  }
}

test('fill/drain cycles keep the WAL directory within twice the size limit, and near empty once drained', async () => {
  const limit = 4 * MiB;
  // LevelDB's own files beside the records: the 4 MiB write buffer's log, the manifest, a partly filled table.
  const slack = 5 * MiB;
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-wal-space-'));
  dirs.push(dir);
  const wal = await Wal.open({ dir, sizeLimitBytes: limit, retentionMs: 3_600_000 });
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, dirBytes(dir));
  };
  const cycles: Array<{ peak: number; empty: number }> = [];
  for (let c = 0; c < 10; c++) {
    await fillToLimit(wal, sample);
    await drainToEmpty(wal, sample);
    await wal.compactionSettled();
    const empty = dirBytes(dir);
    peak = Math.max(peak, empty);
    cycles.push({ peak, empty });
  }
  await wal.close();
  const figures = cycles
    .map((f, c) => `cycle ${c}: peak ${(f.peak / limit).toFixed(2)}x, empty ${(f.empty / limit).toFixed(2)}x`)
    .join('\n');
  assert.ok(
    cycles.every((f) => f.peak <= 2 * limit + slack && f.empty <= limit / 4 + slack),
    `the WAL directory outgrew 2x the size limit + ${slack / MiB} MiB, or stayed large when empty:\n${figures}`,
  );
});
