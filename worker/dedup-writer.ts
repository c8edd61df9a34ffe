// A dedup route's write, the cheap way first. Duplicates are rare in steady traffic (they come after a crash,
// a redelivery or a replay), and a plain COPY into the table, whose unique index refuses a repeated key,
// costs far less than the staging path (bench/dedup-cost.ts). So: COPY straight into the table inside a
// savepoint; when the index refuses a key (23505), roll back to the savepoint and write the batch through the
// staging table (dedup-copy.ts), which drops the duplicates. After such a batch the next ones take the staging
// path straight away for a while: duplicates come in runs, and a COPY that fails is work thrown away.

import type pg from 'pg';
import { copyInto, type DedupResult, type DedupTarget, dedupCopy } from './dedup-copy.ts';
import { qualified, quoteIdent } from './sql.ts';

/** Writes of a route through the staging table after a batch met a key the table held. */
export const STAGING_AFTER_CONFLICT = 20;

const UNIQUE_VIOLATION = '23505';

export class DedupWriter {
  private stagingLeft = 0;
  private readonly directSql: string;
  readonly target: DedupTarget;

  constructor(target: DedupTarget) {
    this.target = target;
    this.directSql = `COPY ${qualified(target.schema, target.table)} (${target.columns.map(quoteIdent).join(', ')}) FROM STDIN`;
  }

  /** Writes the COPY text of `chunks()` (called again for the staging path) in the caller's open transaction. */
  async write(client: pg.ClientBase, chunks: () => Iterable<string>, stage: string): Promise<DedupResult> {
    if (this.stagingLeft > 0) {
      this.stagingLeft--;
      return dedupCopy(client, this.target, chunks(), stage);
    }
    const savepoint = quoteIdent(`${stage}_direct`);
    await client.query(`SAVEPOINT ${savepoint}`);
    try {
      const copied = await copyInto(client, this.directSql, chunks());
      return { copied, inserted: copied };
    } catch (err) {
      if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err;
      await client.query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
      this.stagingLeft = STAGING_AFTER_CONFLICT;
      return dedupCopy(client, this.target, chunks(), stage);
    }
  }
}
