// The partition maintainers of a pipeline's partitioned routes, and the row check they serve: the worker runs
// them at start and periodically; `mqtt2pg replay` and `mqtt2pg drain` run them once before writing.

import type { ResolvedPipeline } from '../api/defaults.ts';
import { pgClientConfig } from '../common/client-options.ts';
import type { Logger } from '../common/logger.ts';
import type { SecretsDir } from '../common/secrets-dir.ts';
import type { InboundMessage } from './message.ts';
import { checkPartitions } from './partition-check.ts';
import { type MaintainerOptions, PartitionMaintainer } from './partition-maintainer.ts';
import type { Row } from './rows.ts';

export class RoutePartitions {
  readonly maintainers = new Map<string, PartitionMaintainer>();
  private readonly columns = new Map<string, string>();

  constructor(p: ResolvedPipeline, secrets: SecretsDir, log: Logger, o: MaintainerOptions = {}) {
    const routes = p.routes.filter((r) => !r.builtIn && r.partitioning);
    if (routes.length === 0) return;
    const config = pgClientConfig(p, secrets, 'partitions');
    for (const r of routes) {
      const part = r.partitioning as NonNullable<typeof r.partitioning>;
      this.columns.set(r.name, part.column);
      this.maintainers.set(
        r.name,
        new PartitionMaintainer(
          config,
          {
            schema: p.sink.schema,
            table: r.table,
            settings: { intervalMs: part.intervalMs, retentionMs: part.retentionMs, premake: part.premake },
          },
          log,
          o,
        ),
      );
    }
  }

  /** `build` with each partitioned route's rows checked against its partitions. */
  check(build: (message: InboundMessage) => Row): (message: InboundMessage) => Row {
    return checkPartitions(build, this.maintainers, this.columns);
  }

  /** Every partitioned route's partitions were read once: rows can be checked against them. */
  get ready(): boolean {
    for (const m of this.maintainers.values()) if (!m.window) return false;
    return true;
  }

  start(): void {
    for (const m of this.maintainers.values()) m.start();
  }

  /** One run of each (replay, drain): throws what PostgreSQL said. */
  async runOnce(): Promise<void> {
    for (const m of this.maintainers.values()) await m.runOnce();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.maintainers.values()].map((m) => m.stop()));
  }
}
