// `mqtt2pg drain -f PIPELINE.yaml --wal-dir DIR`: flush a WAL left behind, then exit.

import { DEFAULT_SECRETS_DIR, WORKER_WAL_DIR } from '../api/contract.ts';
import { parseDurationMs } from '../api/units.ts';
import { type DrainArgs, runDrain } from '../worker/drain.ts';
import { parseCommandArgs, UsageError } from './args.ts';

export const DEFAULT_DRAIN_TIMEOUT = '5m';

const USAGE = `Usage: mqtt2pg drain -f FILE --wal-dir DIR [options]

Flushes every message of a WAL no worker runs any more (the volume of a scaled-down StatefulSet ordinal, a
stopped worker's --wal-dir) into PostgreSQL, the way the worker would: rows, unparseable rows, dead letters.
It never connects to the broker. A message leaves the WAL only after its commit: when the drain gives up or is
stopped, the rest stays intact and the command can be run again.

Progress goes to stderr each second; a JSON summary to stdout
({walDir, messagesAtStart, flushed, rows, unparseable, deadLettered, left, seconds}).
Exit 0: the WAL is empty. Exit 1: it could not finish (the message says why; the WAL is intact).

  -f, --file FILE          the pipeline the WAL belongs to (the same YAML you kubectl apply)
      --name NAME          which pipeline, when FILE holds several
      --wal-dir DIR        the WAL directory (in a worker pod: ${WORKER_WAL_DIR}, the root of its volume)
      --secrets-dir DIR    Secret values as DIR/<secret>/<key> (default ${DEFAULT_SECRETS_DIR})
      --timeout DURATION   give up when nothing could be flushed for this long, e.g. PostgreSQL down
                           (default ${DEFAULT_DRAIN_TIMEOUT}; "30s", "2m", "1h")
      --empty-ok           a directory that holds no WAL (a volume whose worker never started) counts as
                           drained: exit 0 instead of 1
      --termination-log FILE  also write the JSON summary, with "error" when it could not finish, to FILE
                           (in a Job: the container's terminationMessagePath, /dev/termination-log)`;

/** The command line as DrainArgs; throws UsageError (exit 2) or HelpRequested. */
export function parseDrainArgs(argv: string[]): DrainArgs {
  const { values } = parseCommandArgs(
    'drain',
    argv,
    {
      file: { type: 'string', short: 'f' },
      name: { type: 'string' },
      'wal-dir': { type: 'string' },
      'secrets-dir': { type: 'string' },
      timeout: { type: 'string' },
      'empty-ok': { type: 'boolean' },
      'termination-log': { type: 'string' },
    },
    USAGE,
  );
  const file = values.file as string | undefined;
  if (!file) throw new UsageError(`mqtt2pg drain: no pipeline given; pass it with -f FILE\n\n${USAGE}`);
  const walDir = values['wal-dir'] as string | undefined;
  if (!walDir) throw new UsageError(`mqtt2pg drain: no WAL given; pass its directory with --wal-dir DIR\n\n${USAGE}`);
  const timeout = (values.timeout as string | undefined) ?? DEFAULT_DRAIN_TIMEOUT;
  let timeoutMs: number;
  try {
    timeoutMs = parseDurationMs(timeout);
  } catch (err) {
    throw new UsageError(`mqtt2pg drain: --timeout: ${(err as Error).message}`);
  }
  if (timeoutMs <= 0) throw new UsageError(`mqtt2pg drain: --timeout must be longer than 0 (got "${timeout}")`);
  return {
    file,
    ...(values.name ? { name: values.name as string } : {}),
    walDir,
    secretsDir: (values['secrets-dir'] as string | undefined) ?? DEFAULT_SECRETS_DIR,
    timeoutMs,
    ...(values['empty-ok'] ? { emptyOk: true } : {}),
    ...(values['termination-log'] ? { terminationLog: values['termination-log'] as string } : {}),
  };
}

export async function runDrainCommand(argv: string[]): Promise<number> {
  return await runDrain(parseDrainArgs(argv));
}
