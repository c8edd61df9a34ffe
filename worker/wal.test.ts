// The WAL against a real LevelDB on disk: durability callbacks, group commit, replay, backpressure flag,
// read-back beyond the cache, retention.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { InboundMessage } from './message.ts';
import { Wal, type WalOptions } from './wal.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'mqtt2pg-wal-'));
  dirs.push(d);
  return d;
};
const options = (dir: string, extra: Partial<WalOptions> = {}): WalOptions => ({
  dir,
  sizeLimitBytes: 64 * 2 ** 20,
  retentionMs: 3_600_000,
  ...extra,
});
const msg = (i: number, receivedAt = Date.now()): InboundMessage => ({
  topic: `t/acme/d/550e8400-e29b-41d4-a716-446655440000/evt/${i}`,
  payload: Buffer.from(JSON.stringify({ id: i })),
  receivedAt,
  qos: 1,
  dup: false,
});

async function appendAll(wal: Wal, from: number, n: number): Promise<number[]> {
  const order: number[] = [];
  await new Promise<void>((resolve) => {
    let left = n;
    for (let i = from; i < from + n; i++) {
      wal.append(msg(i), () => {
        order.push(i);
        if (--left === 0) resolve();
      });
    }
  });
  return order;
}

test('durability callbacks run in append order, and one synced write covers a whole burst', async () => {
  const wal = await Wal.open(options(newDir()));
  const order = await appendAll(wal, 0, 5000);
  assert.deepEqual(order, [...Array(5000).keys()]);
  assert.equal(wal.messages, 5000);
  assert.equal(wal.available, 5000);
  // 5000 messages appended in one tick: one batch write, split into groups of at most 2000.
  const claim = await wal.claim(100_000);
  assert.equal(claim?.groups.length, 3);
  await wal.close();
});

test('a reopened WAL replays exactly what was not committed, oldest first', async () => {
  const dir = newDir();
  let wal = await Wal.open(options(dir, { maxGroupMessages: 100 }));
  await appendAll(wal, 0, 1000);
  const first = await wal.claim(300);
  assert.equal(first?.messages.length, 300);
  await wal.commit(first as NonNullable<typeof first>);
  const second = await wal.claim(200); // claimed, never committed: must come back
  assert.equal(second?.messages[0]?.payload.toString(), '{"id":300}');
  await wal.close();

  wal = await Wal.open(options(dir, { maxGroupMessages: 100 }));
  assert.equal(wal.messages, 700);
  const replay = await wal.claim(10_000);
  assert.deepEqual(
    replay?.messages.map((m) => JSON.parse(m.payload.toString()).id),
    Array.from({ length: 700 }, (_, i) => i + 300),
  );
  // Appends after a replay continue the sequence rather than overwriting replayed groups.
  await appendAll(wal, 5000, 10);
  await wal.commit(replay as NonNullable<typeof replay>);
  assert.equal(wal.messages, 10);
  await wal.close();
  wal = await Wal.open(options(dir));
  assert.equal(wal.messages, 10);
  await wal.close();
});

test('groups beyond the memory cache are read back from disk intact', async () => {
  const wal = await Wal.open(options(newDir(), { cacheBytes: 2000, maxGroupMessages: 10 }));
  await appendAll(wal, 0, 500);
  const claim = await wal.claim(500);
  assert.equal(claim?.messages.length, 500);
  assert.deepEqual(
    claim?.messages.map((m) => JSON.parse(m.payload.toString()).id),
    [...Array(500).keys()],
  );
  await wal.close();
});

test('the full flag rises at the size limit and falls below the resume mark after commits', async () => {
  const wal = await Wal.open(options(newDir(), { sizeLimitBytes: 20_000, maxGroupMessages: 50 }));
  await appendAll(wal, 0, 100);
  assert.equal(wal.full, false);
  await appendAll(wal, 100, 200);
  assert.equal(wal.full, true);
  let claim = await wal.claim(250);
  await wal.commit(claim as NonNullable<typeof claim>);
  assert.equal(wal.full, false);
  assert.equal(wal.belowResumeMark, true);
  claim = await wal.claim(1000);
  await wal.commit(claim as NonNullable<typeof claim>);
  assert.equal(wal.bytes, 0);
  assert.equal(wal.messages, 0);
  await wal.close();
});

test('released claims return to the head in order', async () => {
  const wal = await Wal.open(options(newDir(), { maxGroupMessages: 10 }));
  await appendAll(wal, 0, 50);
  const a = await wal.claim(20);
  const b = await wal.claim(20);
  wal.release(b as NonNullable<typeof b>);
  wal.release(a as NonNullable<typeof a>);
  const all = await wal.claim(100);
  assert.deepEqual(
    all?.messages.map((m) => JSON.parse(m.payload.toString()).id),
    [...Array(50).keys()],
  );
  await wal.close();
});

test('entries past the retention are expired and counted', async () => {
  const wal = await Wal.open(options(newDir(), { retentionMs: 60_000, maxGroupMessages: 1 }));
  const old = Date.now() - 120_000;
  await new Promise<void>((resolve) => {
    wal.append(msg(1, old));
    wal.append(msg(2, old), resolve);
  });
  await appendAll(wal, 3, 1);
  assert.equal(await wal.sweepExpired(), 2);
  assert.equal(wal.expired, 2);
  assert.equal(wal.messages, 1);
  await wal.close();
});

test('a WAL directory in use by another worker is refused with a clear error', async () => {
  const dir = newDir();
  const wal = await Wal.open(options(dir));
  await assert.rejects(Wal.open(options(dir)), /cannot open the WAL at .*another worker/);
  await wal.close();
});

test('retain deletes a claim but the messages kept, which survive a crash as a group of their own', async () => {
  const dir = newDir();
  const wal = await Wal.open(options(dir));
  await appendAll(wal, 0, 10);
  const claim = await wal.claim(100);
  assert.ok(claim);
  const kept = await wal.retain(claim, [claim.messages[2] as InboundMessage, claim.messages[7] as InboundMessage]);
  assert.deepEqual([wal.messages, wal.available], [2, 0], 'held by the caller, not claimable by others');
  assert.deepEqual(
    kept.messages.map((m) => m.topic.split('/').pop()),
    ['2', '7'],
  );
  // Closed without a commit or a release, as a crash would leave it.
  await wal.close();
  const reopened = await Wal.open(options(dir));
  const replay = await reopened.claim(100);
  assert.deepEqual(
    replay?.messages.map((m) => m.topic.split('/').pop()),
    ['2', '7'],
  );
  await reopened.close();
});
