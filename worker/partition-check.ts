// Rows of partitioned routes checked against their table's partitions before COPY (pure): a row whose
// partition column falls outside every partition (older than the oldest kept, later than the newest made
// ahead, or empty) becomes an unparseable row with reason outside_partitions, naming the column and the
// window, instead of a COPY failure that would hold its whole batch.

import type { InboundMessage } from './message.ts';
import type { Row } from './rows.ts';

export type PartitionReason = 'outside_partitions';

/** A route's partition window (partition-maintainer.ts): why a value cannot be written now, if it cannot. */
export interface WindowCheck {
  refuse(valueMs: number): string | undefined;
}

/** `build` with the partition check of `windows` (by route name) applied to its rows; `columns` names each route's column. */
export function checkPartitions(
  build: (message: InboundMessage) => Row,
  windows: ReadonlyMap<string, WindowCheck>,
  columns: ReadonlyMap<string, string>,
): (message: InboundMessage) => Row {
  if (windows.size === 0) return build;
  return (message) => {
    const row = build(message);
    if (row.kind !== 'route' || row.partitionAt === undefined) return row;
    const w = windows.get(row.route);
    if (!w) return row;
    const column = columns.get(row.route);
    if (row.partitionAt === null)
      return {
        kind: 'unparseable',
        message,
        reason: 'outside_partitions',
        detail: `column "${column}": no value, and the partitioned table needs one`,
      };
    // A time JavaScript cannot read (a leap second) goes to COPY unchecked: PostgreSQL decides.
    if (Number.isNaN(row.partitionAt)) return row;
    const why = w.refuse(row.partitionAt);
    if (!why) return row;
    return {
      kind: 'unparseable',
      message,
      reason: 'outside_partitions',
      detail: `column "${column}": ${new Date(row.partitionAt).toISOString()} is ${why}`,
    };
  };
}
