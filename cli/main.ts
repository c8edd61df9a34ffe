#!/usr/bin/env node
// mqtt2pg: one binary, one subcommand per job (like the reference service's cmd/*).

import { HelpRequested, UsageError } from './args.ts';
import { runValidate } from './validate.ts';

const USAGE = `mqtt2pg — MQTT 5 → PostgreSQL ingest pipelines on Kubernetes

Usage: mqtt2pg <command> [options]

Commands:
  worker -f FILE [--secrets-dir DIR]     run one ingest worker (the same code a worker pod runs)
  migrate -f FILE [--secrets-dir DIR]    create or upgrade the pipeline's tables
  drain -f FILE --wal-dir DIR            flush a WAL left behind (a scaled-down ordinal's volume) and exit
  replay -f FILE [--from s3://B/P]       re-feed dead letters (or --unparseable rows) through the routes after a fix
  loadgen [--url URL] [--rate N] ...     publish synthetic device traffic; progress, then a JSON summary
  validate -f FILE [--secrets-dir DIR]   check a pipeline file; every problem names its field and the fix
  render -f FILE [--secrets-dir DIR]     print the Kubernetes objects the operator creates for a pipeline
  operator [--watch-namespace NS ...]    run the controller (in-cluster config, or KUBECONFIG)
  crd                                    print the IngestPipeline CustomResourceDefinition
  version                                print the version

Run 'mqtt2pg <command> --help' for a command's options.`;

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, Command> = {
  validate: runValidate,
  // Loaded on use: the operator's Kubernetes client is heavy for the other commands.
  render: async (argv) => (await import('./render.ts')).runRender(argv),
  operator: async (argv) => (await import('./operator.ts')).runOperatorCommand(argv),
  worker: async (argv) => (await import('./worker.ts')).runWorkerCommand(argv),
  migrate: async (argv) => (await import('./migrate.ts')).runMigrateCommand(argv),
  drain: async (argv) => (await import('./drain.ts')).runDrainCommand(argv),
  replay: async (argv) => (await import('./replay.ts')).runReplayCommand(argv),
  loadgen: async (argv) => (await import('./loadgen.ts')).runLoadgenCommand(argv),
  crd: async () => {
    const { renderCrdYaml } = await import('../crds/generate.ts');
    process.stdout.write(renderCrdYaml());
    return 0;
  },
  version: async () => {
    const { VERSION } = await import('../common/version.ts');
    console.log(VERSION);
    return 0;
  },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    console.error(`mqtt2pg: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (err) {
    if (err instanceof HelpRequested) {
      console.log(err.usage);
      return 0;
    }
    if (err instanceof UsageError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`mqtt2pg: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
