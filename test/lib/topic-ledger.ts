// Where every message of a run ended up, for runs whose ids ride in the topic ("…/<runId>-<n>/…", see
// test/lib/fuzz-corpus.ts): the one field all three destinations keep whatever the payload is (empty, binary,
// huge). Counts per message number in typed arrays and in SQL, so a million-message soak is read in seconds.

import { readDeadLetters, withDb } from './ledger.ts';
import type { PipelineTarget } from './pipelines.ts';

export type Place = 'table' | 'unparseable' | 'dlq';

export interface TopicLedger {
  count: number;
  table: Uint16Array;
  unparseable: Uint16Array;
  dlq: Uint16Array;
  /** Why each unparseable message was set aside (the first row's reason), by message number. */
  reasons: Map<number, string>;
  /** SQLSTATE of each dead letter, by message number. */
  sqlstates: Map<number, string | null>;
}

const checkRunId = (runId: string) => {
  if (!/^[A-Za-z0-9]+$/.test(runId)) throw new Error(`run id "${runId}" must be letters and digits only`);
};

export async function readTopicLedger(
  p: PipelineTarget,
  runId: string,
  count: number,
  o: { reasons?: boolean } = {},
): Promise<TopicLedger> {
  checkRunId(runId);
  const l: TopicLedger = {
    count,
    table: new Uint16Array(count),
    unparseable: new Uint16Array(count),
    dlq: new Uint16Array(count),
    reasons: new Map(),
    sqlstates: new Map(),
  };
  const re = `${runId}-([0-9]+)/`;
  const add = (into: Uint16Array, n: number, k: number) => {
    if (n >= 0 && n < count) into[n] = Math.min(0xffff, (into[n] as number) + k);
  };
  await withDb(async (c) => {
    const t = await c.query<{ n: number; k: string }>(
      `SELECT substring(path from $1)::int AS n, count(*) AS k FROM "${p.table}" WHERE path ~ $1 GROUP BY 1`,
      [re],
    );
    for (const r of t.rows) add(l.table, r.n, Number(r.k));
    const u = await c.query<{ n: number; k: string; reason: string }>(
      `SELECT substring(topic from $1)::int AS n, count(*) AS k, ${o.reasons ? 'min(reason)' : "''"} AS reason
         FROM "${p.unparseableTable}" WHERE topic ~ $1 GROUP BY 1`,
      [re],
    );
    for (const r of u.rows) {
      add(l.unparseable, r.n, Number(r.k));
      if (o.reasons) l.reasons.set(r.n, r.reason);
    }
  });
  const idRe = new RegExp(re);
  for (const line of await readDeadLetters(p)) {
    const m = idRe.exec(line.topic);
    if (!m) continue;
    const n = Number(m[1]);
    add(l.dlq, n, 1);
    l.sqlstates.set(n, line.sqlstate);
  }
  return l;
}

export interface TopicAccounting {
  acknowledged: number;
  /** Acknowledged messages in exactly one place. */
  stored: number;
  byPlace: Record<Place, number>;
  /** Acknowledged, found nowhere. */
  lost: number[];
  /** Acknowledged, found in more than one place (a contract breach, like a loss). */
  inSeveral: number[];
  /** Copies beyond the first, across all places (at-least-once redeliveries). */
  duplicates: number;
  /** Never acknowledged, stored anyway (the broker took them, its PUBACK was lost): allowed. */
  storedUnacknowledged: number;
}

export const placesOf = (l: TopicLedger, n: number): Place[] => {
  const out: Place[] = [];
  if (l.table[n]) out.push('table');
  if (l.unparseable[n]) out.push('unparseable');
  if (l.dlq[n]) out.push('dlq');
  return out;
};

export function accountTopics(l: TopicLedger, acked: Uint8Array): TopicAccounting {
  const a: TopicAccounting = {
    acknowledged: 0,
    stored: 0,
    byPlace: { table: 0, unparseable: 0, dlq: 0 },
    lost: [],
    inSeveral: [],
    duplicates: 0,
    storedUnacknowledged: 0,
  };
  for (let n = 0; n < l.count; n++) {
    const copies = (l.table[n] as number) + (l.unparseable[n] as number) + (l.dlq[n] as number);
    a.duplicates += Math.max(0, copies - 1);
    const places = placesOf(l, n);
    if (!acked[n]) {
      if (copies > 0) a.storedUnacknowledged++;
      if (places.length > 1) a.inSeveral.push(n);
      continue;
    }
    a.acknowledged++;
    if (places.length === 0) a.lost.push(n);
    else if (places.length > 1) a.inSeveral.push(n);
    else {
      a.stored++;
      a.byPlace[places[0] as Place]++;
    }
  }
  return a;
}
