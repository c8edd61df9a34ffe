// Argument parsing shared by the subcommands: node:util parseArgs with errors that say how to fix them.

import { type ParseArgsConfig, parseArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** `--help`: cli/main.ts prints the command's usage and exits 0. */
export class HelpRequested extends Error {
  override name = 'HelpRequested';
  readonly usage: string;
  constructor(usage: string) {
    super('help requested');
    this.usage = usage;
  }
}

/** Parses a command's flags; throws UsageError (exit 2) or HelpRequested, both handled in cli/main.ts. */
export function parseCommandArgs<T extends ParseArgsConfig['options']>(
  command: string,
  argv: string[],
  options: T,
  usage: string,
) {
  let parsed: ReturnType<
    typeof parseArgs<{
      args: string[];
      options: T & { help: { type: 'boolean'; short: 'h' } };
      allowPositionals: false;
      strict: true;
    }>
  >;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } } as T & { help: { type: 'boolean'; short: 'h' } },
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(`mqtt2pg ${command}: ${(err as Error).message}\n\n${usage}`);
  }
  if ((parsed.values as { help?: boolean }).help) throw new HelpRequested(usage);
  return parsed;
}
