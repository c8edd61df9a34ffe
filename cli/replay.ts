// `mqtt2pg replay -f PIPELINE.yaml [--from s3://BUCKET/PREFIX | --unparseable]`: re-feed dead letters (or
// unparseable rows) through the routes after the cause is fixed.

import { DEFAULT_SECRETS_DIR } from '../api/contract.ts';
import type { ReplaySummary } from '../worker/replay.ts';
import { type ReplayArgs, ReplayError, runReplay } from '../worker/replay-run.ts';
import { parseCommandArgs, UsageError } from './args.ts';

const USAGE = `Usage: mqtt2pg replay -f FILE [--from s3://BUCKET/PREFIX | --unparseable [--reason R]] [options]

Re-feeds dead letters through the pipeline's routes after you fixed what PostgreSQL rejected them for (a
constraint, a column type, a missing partition): each message is turned into its row by the same route logic
the worker runs, and written the same way (with dedup: at most once per key). A dead-letter object is deleted
only after every row of it is committed; letters PostgreSQL still rejects go to a new object in the
pipeline's dead-letter bucket first. With --unparseable, rows of the unparseable table are re-fed instead,
each deleted in the transaction that stores its row; rows still refused stay where they are.

Progress goes to stderr each second; a JSON summary to stdout
({dryRun, batches, messages, stored, unparseable, stillRejected, deleted, badLines, seconds}).
Exit 0: everything stored. Exit 3: some rows are still rejected (kept, see the summary). Exit 1: it stopped
(PostgreSQL or the bucket failed; what was not committed is intact, run it again). Exit 2: a usage error.

  -f, --file FILE          the pipeline (the same YAML you kubectl apply)
      --name NAME          which pipeline, when FILE holds several
      --from URL           the dead letters: s3://BUCKET/PREFIX (default: the pipeline's own,
                           s3://<spec.deadLetter.s3.bucket>/<prefix><pipeline>/), read with spec.deadLetter's
                           endpoint and credentials
      --unparseable        re-feed rows of the unparseable table instead of dead letters
      --reason R           with --unparseable: only rows with this reason (repeatable, or comma-separated),
                           e.g. rejected, invalid_json, outside_partitions
      --page-size N        unparseable rows per transaction (default 1000)
      --dry-run            write in transactions that are rolled back: the summary says what would be stored
                           and still rejected; nothing is kept and nothing deleted
      --secrets-dir DIR    Secret values as DIR/<secret>/<key> (default ${DEFAULT_SECRETS_DIR})
      --quiet              no progress lines`;

export function parseReplayArgs(argv: string[]): ReplayArgs & { quiet: boolean } {
  const { values } = parseCommandArgs(
    'replay',
    argv,
    {
      file: { type: 'string', short: 'f' },
      name: { type: 'string' },
      from: { type: 'string' },
      unparseable: { type: 'boolean' },
      reason: { type: 'string', multiple: true },
      'page-size': { type: 'string' },
      'dry-run': { type: 'boolean' },
      'secrets-dir': { type: 'string' },
      quiet: { type: 'boolean' },
    },
    USAGE,
  );
  const file = values.file as string | undefined;
  if (!file) throw new UsageError(`mqtt2pg replay: no pipeline given; pass it with -f FILE\n\n${USAGE}`);
  const unparseable = Boolean(values.unparseable);
  const reasons = ((values.reason as string[] | undefined) ?? []).flatMap((r) => r.split(',')).filter(Boolean);
  if (unparseable && values.from)
    throw new UsageError('mqtt2pg replay: --from reads dead letters and --unparseable the unparseable table; pick one');
  if (!unparseable && reasons.length > 0)
    throw new UsageError('mqtt2pg replay: --reason filters the unparseable table; add --unparseable');
  const pageSize = Number((values['page-size'] as string | undefined) ?? 1000);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100_000)
    throw new UsageError(
      `mqtt2pg replay: --page-size must be a whole number from 1 to 100000 (got "${values['page-size']}")`,
    );
  return {
    file,
    ...(values.name ? { name: values.name as string } : {}),
    secretsDir: (values['secrets-dir'] as string | undefined) ?? DEFAULT_SECRETS_DIR,
    ...(values.from ? { from: values.from as string } : {}),
    ...(unparseable ? { unparseable, reasons } : {}),
    pageSize,
    dryRun: Boolean(values['dry-run']),
    quiet: Boolean(values.quiet),
  };
}

/** One progress line: what is done of how much, and what became of it. */
export function progressLine(s: ReplaySummary, total: number | undefined, unit: string): string {
  const of = total === undefined ? '' : ` of ${total}`;
  return `replay${s.dryRun ? ' (dry run)' : ''}: ${unit === 'objects' ? s.batches : s.messages}${of} ${unit}; stored ${s.stored}, unparseable ${s.unparseable}, still rejected ${s.stillRejected}, deleted ${s.deleted}`;
}

export async function runReplayCommand(argv: string[]): Promise<number> {
  const args = parseReplayArgs(argv);
  const unit = args.unparseable ? 'rows' : 'objects';
  let last = 0;
  let latest: { s: ReplaySummary; total: number | undefined } | undefined;
  const print = () => latest && process.stderr.write(`${progressLine(latest.s, latest.total, unit)}\n`);
  try {
    const out = await runReplay({
      ...args,
      ...(args.quiet
        ? {}
        : {
            onProgress: (s, total) => {
              latest = { s, total };
              if (Date.now() - last < 1000) return;
              last = Date.now();
              print();
            },
          }),
    });
    if (!('summary' in out)) return out.exitCode;
    if (!args.quiet) print();
    console.log(JSON.stringify(out.summary));
    return out.exitCode;
  } catch (err) {
    const message = err instanceof ReplayError ? err.message : (err as Error).message;
    console.error(
      `mqtt2pg replay: ${message}; nothing uncommitted was deleted: fix the cause and run the command again`,
    );
    return 1;
  }
}
