// Which time partitions a partitioned route's table needs (pure): given the interval, the retention, how many
// future partitions to keep ready, the clock and the partitions that exist, the partitions to create and the
// ones to drop; and the window of partition-column values a row may hold to find a partition that will still
// be there when its transaction commits (rows outside it go to the unparseable table before COPY).
//
// Partitions are aligned to multiples of the interval since the Unix epoch in UTC (a day starts at 00:00 UTC,
// an hour on the hour; 7d partitions start on Thursdays, as 1970-01-01 did).

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface PartitionSettings {
  intervalMs: number;
  /** Partitions whose whole range is older than this are dropped; undefined keeps them forever. */
  retentionMs: number | undefined;
  /** Future partitions kept ready beyond the current one. */
  premake: number;
}

/** A range partition [fromMs, toMs) of the table. */
export interface PartitionRange {
  name: string;
  fromMs: number;
  toMs: number;
}

export interface PartitionPlan {
  create: PartitionRange[];
  drop: PartitionRange[];
}

export const partitionStart = (ms: number, intervalMs: number) => Math.floor(ms / intervalMs) * intervalMs;

/** `<table>_p20261130` (whole-day intervals) or `<table>_p20261130_13` (hours), cut to PostgreSQL's 63 bytes. */
export function partitionName(table: string, fromMs: number, intervalMs: number): string {
  const iso = new Date(fromMs).toISOString();
  const day = iso.slice(0, 10).replaceAll('-', '');
  const suffix = intervalMs % DAY === 0 ? `_p${day}` : `_p${day}_${iso.slice(11, 13)}`;
  return `${table.slice(0, 63 - suffix.length)}${suffix}`;
}

/** Partitions mqtt2pg made for `table` are the only ones it ever drops (a user's own are theirs). */
export function isOwnPartition(table: string, name: string): boolean {
  const m = /_p[0-9]{8}(_[0-9]{2})?$/.exec(name);
  return m !== null && name.slice(0, m.index) === table.slice(0, 63 - (name.length - m.index));
}

/**
 * The partitions to create (the one holding now − retention, or now without a retention, up to `premake`
 * beyond the current one; none overlapping an existing partition) and to drop (own partitions wholly older
 * than now − retention).
 */
export function planPartitions(
  table: string,
  s: PartitionSettings,
  nowMs: number,
  existing: readonly PartitionRange[],
): PartitionPlan {
  const drop =
    s.retentionMs === undefined
      ? []
      : existing.filter((p) => p.toMs <= nowMs - (s.retentionMs as number) && isOwnPartition(table, p.name));
  const first = partitionStart(s.retentionMs === undefined ? nowMs : nowMs - s.retentionMs, s.intervalMs);
  const last = partitionStart(nowMs, s.intervalMs) + s.premake * s.intervalMs;
  const create: PartitionRange[] = [];
  for (let from = first; from <= last; from += s.intervalMs) {
    const to = from + s.intervalMs;
    if (existing.some((p) => from < p.toMs && p.fromMs < to)) continue;
    create.push({ name: partitionName(table, from, s.intervalMs), fromMs: from, toMs: to });
  }
  return { create, drop };
}

/**
 * Rows older than a partition about to be dropped are refused this long before the drop: a row that passed
 * the check must still find its partition when its transaction commits (a missing partition is retried, not
 * dead-lettered, so a row racing the drop would hold its flusher).
 */
export const DROP_GRACE_MS = 10 * 60_000;

/** Where rows of a partitioned route may go: the known partitions, sorted, without overlaps. */
export class PartitionWindow {
  private readonly ranges: PartitionRange[];
  private readonly retentionMs: number | undefined;

  constructor(partitions: readonly PartitionRange[], retentionMs: number | undefined) {
    this.ranges = [...partitions].sort((a, b) => a.fromMs - b.fromMs);
    this.retentionMs = retentionMs;
  }

  get partitions(): readonly PartitionRange[] {
    return this.ranges;
  }

  /** Undefined when a row whose partition column holds `valueMs` can be written at `nowMs`; else why not. */
  refuse(valueMs: number, nowMs: number): string | undefined {
    const oldest = this.ranges[0];
    const newest = this.ranges[this.ranges.length - 1];
    if (!oldest || !newest) return 'the table has no partitions yet (the worker creates them at start)';
    const r = this.find(valueMs);
    const span = `${iso(oldest.fromMs)} to ${iso(newest.toMs)}`;
    if (!r) {
      if (valueMs < oldest.fromMs) return `older than the oldest partition (partitions span ${span})`;
      if (valueMs >= newest.toMs) return `later than the newest partition (partitions span ${span}; raise premake)`;
      return `in a gap between partitions (partitions span ${span})`;
    }
    if (this.retentionMs !== undefined && r.toMs <= nowMs - this.retentionMs + DROP_GRACE_MS)
      return `past the retention: its partition ${r.name} is dropped (partitions span ${span})`;
    return undefined;
  }

  private find(valueMs: number): PartitionRange | undefined {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid] as PartitionRange;
      if (valueMs < r.fromMs) hi = mid - 1;
      else if (valueMs >= r.toMs) lo = mid + 1;
      else return r;
    }
    return undefined;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
