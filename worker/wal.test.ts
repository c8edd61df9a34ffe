// The WAL against a real LevelDB on disk: durability callbacks, group commit, replay, backpressure flag,
// read-back beyond the cache, retention; and what it cannot trust: a record whose bytes were damaged on
// disk, a key that is not one of its own, a topic the broker forwarded as invalid UTF-8 (EMQX, for one, does
// not check topics unless its strict mode is on; Mosquitto refuses them). None of them may stop the log: the
// damaged record is moved aside (kept, counted) and the records around it are still delivered; the long
// topic is stored like any other.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Level } from 'level';
import mqttPacket, { type IPublishPacket } from 'mqtt-packet';
import type { InboundMessage } from './message.ts';
import { toRow } from './rows.ts';
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

test('a claim is bounded by bytes as well as messages: large payloads never make one batch of everything', async () => {
  const wal = await Wal.open(options(newDir(), { maxGroupBytes: 2 ** 20 }));
  const big = (i: number): InboundMessage => ({ ...msg(i), payload: Buffer.alloc(64 * 1024, i) });
  await new Promise<void>((resolve) => {
    for (let i = 0; i < 200; i++) wal.append(big(i), i === 199 ? resolve : undefined);
  });
  const total = wal.availableBytes;
  assert.ok(total > 200 * 64 * 1024, `${total} bytes waiting`);
  const claim = await wal.claim(5000, 4 * 2 ** 20);
  const bytes = (c: typeof claim) => (c?.groups ?? []).reduce((n, g) => n + g.bytes, 0);
  assert.ok(bytes(claim) <= 4 * 2 ** 20, `claimed ${bytes(claim)} bytes`);
  assert.ok((claim?.messages.length ?? 0) >= 32 && (claim?.messages.length ?? 0) < 200, `${claim?.messages.length}`);
  assert.equal(wal.availableBytes, total - bytes(claim));
  const one = await wal.claim(5000, 1);
  assert.equal(one?.groups.length, 1, 'a group larger than the bound is still claimed, alone');
  wal.release(one as NonNullable<typeof one>);
  wal.release(claim as NonNullable<typeof claim>);
  assert.equal(wal.availableBytes, total, 'released bytes are waiting again');
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

const ids = (ms: InboundMessage[] | undefined) => (ms ?? []).map((m) => JSON.parse(m.payload.toString()).id);

function appendDurable(wal: Wal, messages: InboundMessage[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let left = messages.length;
    wal.once('error', reject);
    for (const m of messages) wal.append(m, () => --left === 0 && resolve());
  });
}

/** Overwrites the value of the n-th record (in key order) with bytes that keep its format version byte. */
async function damageRecord(dir: string, n: number): Promise<void> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  try {
    const keys = await db.keys().all();
    const key = keys[n] as Buffer;
    const value = (await db.get(key)) as Buffer;
    const damaged = Buffer.from(value);
    damaged.fill(0xff, 1, Math.min(damaged.length, 40));
    await db.put(key, damaged);
  } finally {
    await db.close();
  }
}

test('a damaged record is moved aside, never delivered or thrown; the records around it are delivered', async () => {
  const dir = newDir();
  let wal = await Wal.open(options(dir, { maxGroupMessages: 10 }));
  await appendAll(wal, 0, 50);
  await wal.close();
  await damageRecord(dir, 2); // ids 20..29

  wal = await Wal.open(options(dir, { maxGroupMessages: 10 }));
  const moved: Array<{ messages: number }> = [];
  wal.on('quarantined', (q: { messages: number }) => moved.push(q));
  assert.equal(wal.messages, 50);
  const claim = await wal.claim(1000);
  assert.deepEqual(ids(claim?.messages), [
    ...Array.from({ length: 20 }, (_, i) => i),
    ...Array.from({ length: 20 }, (_, i) => i + 30),
  ]);
  assert.deepEqual(moved.length, 1);
  assert.equal(moved[0]?.messages, 10);
  await wal.commit(claim as NonNullable<typeof claim>);
  assert.equal(wal.messages, 0, 'the moved record no longer counts as waiting');
  assert.deepEqual([wal.quarantine.records, wal.quarantine.messages], [1, 10]);
  await wal.close();

  // Kept across restarts, and never replayed.
  wal = await Wal.open(options(dir));
  assert.equal(wal.messages, 0);
  assert.equal(await wal.claim(1000), undefined);
  assert.equal(wal.quarantine.records, 1);
  await wal.close();
});

test('a key that is not a WAL group key is moved aside at open, not thrown', async () => {
  const dir = newDir();
  let wal = await Wal.open(options(dir));
  await appendDurable(wal, [msg(1), msg(2)]);
  await wal.close();
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.put(Buffer.from([0, 1, 2]), Buffer.from('garbage'));
  await db.close();

  wal = await Wal.open(options(dir));
  assert.equal(wal.quarantine.records, 1);
  assert.deepEqual(ids((await wal.claim(10))?.messages), [1, 2]);
  await wal.close();
});

test('a topic that re-encodes past 64 KiB (invalid UTF-8 forwarded by the broker) is stored, and lands unparseable', async () => {
  // The bytes a non-checking broker forwards, parsed by mqtt-packet as the receiver parses them: every invalid
  // byte becomes U+FFFD, three bytes in UTF-8, so 30,000 topic bytes become 90,000.
  const raw = Buffer.concat([Buffer.from('t/acme/d/'), Buffer.alloc(30_000, 0xff)]);
  const payload = Buffer.from('{"id":"long"}');
  const body = Buffer.concat([Buffer.from([raw.length >> 8, raw.length & 0xff]), raw, Buffer.from([0, 7, 0]), payload]);
  const length: number[] = [];
  for (let n = body.length; n > 0 || length.length === 0; n >>= 7) length.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
  const header = Buffer.from([0x32, ...length]);
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  let packet: IPublishPacket | undefined;
  parser.on('packet', (p) => {
    packet = p as IPublishPacket;
  });
  parser.parse(Buffer.concat([header, body]));
  assert.ok(packet, 'mqtt-packet parsed the PUBLISH');
  assert.ok(Buffer.byteLength(packet.topic) > 65_535);

  const dir = newDir();
  let wal = await Wal.open(options(dir, { cacheBytes: 0 }));
  const long: InboundMessage = { topic: packet.topic, payload, receivedAt: Date.now(), qos: 1, dup: false };
  await appendDurable(wal, [msg(1), long, msg(2)]);
  await wal.close();
  wal = await Wal.open(options(dir));
  const claim = await wal.claim(10);
  assert.equal(claim?.messages[1]?.topic, packet.topic);
  const row = toRow(claim?.messages[1] as InboundMessage, 'json', {
    maxPayloadSizeBytes: 256 * 1024,
    maxJsonDepth: 64,
  });
  assert.equal(row.kind === 'unparseable' && row.reason, 'topic_too_long');
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

test('a claimed group holds its 24-byte key, not a shared 8 KiB Buffer pool slab', async () => {
  // Keys live as long as their group is on disk: under a backlog of a million messages, keys cut from Node's
  // Buffer pool kept one 8 KiB slab each alive (RSS grew with the backlog). Fresh appends and replayed keys.
  const dir = newDir();
  let wal = await Wal.open(options(dir, { maxGroupMessages: 5 }));
  await appendAll(wal, 0, 100);
  const ownsItsMemory = (c: Awaited<ReturnType<Wal['claim']>>) =>
    (c?.groups ?? []).every((g) => g.key !== undefined && g.key.buffer.byteLength === g.key.length);
  const fresh = await wal.claim(50);
  assert.equal(fresh?.groups.length, 10);
  assert.ok(ownsItsMemory(fresh), 'appended keys own their memory');
  await wal.close();
  wal = await Wal.open(options(dir, { maxGroupMessages: 5 }));
  const replayed = await wal.claim(1000);
  assert.equal(replayed?.groups.length, 20);
  assert.ok(ownsItsMemory(replayed), 'replayed keys own their memory');
  await wal.close();
});

test('groups waiting in the WAL hold no key Buffers: a backlog costs memory per group, not a Buffer each', async () => {
  // A Buffer per queued group cost ~500 bytes of RSS (its ArrayBuffer, backing store and extension): ~30 MiB
  // more RSS at a 1M-message backlog than at 100k. Waiting groups now derive their key from their fields.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const dir = newDir();
  const groups = 20_000;
  // Written by a WAL of its own, gone before the measurement: only the reopened log's index is counted.
  await (async () => {
    const writer = await Wal.open(options(dir, { maxGroupMessages: 1, cacheBytes: 0 }));
    await appendAll(writer, 0, groups);
    await writer.close();
  })();
  gc();
  const before = process.memoryUsage().heapUsed;
  const wal = await Wal.open(options(dir, { maxGroupMessages: 1, cacheBytes: 0 }));
  gc();
  const held = process.memoryUsage().heapUsed - before;
  assert.equal(wal.available, groups);
  // Measured: ~200 bytes a group (its fields, the index array); with a key Buffer (a 24-byte typed array, kept on
  // V8's heap) ~440.
  assert.ok(held < groups * 300, `${groups} waiting groups hold ${held} bytes of heap (${held / groups} each)`);
  const claim = await wal.claim(groups);
  assert.equal(claim?.messages.length, groups);
  await wal.commit(claim as NonNullable<typeof claim>);
  assert.equal(wal.messages, 0);
  await wal.close();
});
