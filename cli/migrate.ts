// `mqtt2pg migrate -f PIPELINE.yaml`: create or upgrade the pipeline's tables, then exit.

import pg from 'pg';
import { DEFAULT_SECRETS_DIR } from '../api/contract.ts';
import { loadSinglePipeline } from '../api/load-pipeline.ts';
import { pgClientConfig } from '../common/client-options.ts';
import { SecretsDir } from '../common/secrets-dir.ts';
import { migrate } from '../worker/migrate.ts';
import { explainPgConnectError } from '../worker/pg-errors.ts';
import { parseCommandArgs } from './args.ts';

const USAGE = `Usage: mqtt2pg migrate -f FILE [--name NAME] [--secrets-dir DIR]

Creates the schema, the telemetry and unparseable tables and their indexes of the pipeline in FILE, or
upgrades them to the current version. Safe to run from many places at once.`;

export async function runMigrateCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'migrate',
    argv,
    {
      file: { type: 'string', short: 'f' },
      name: { type: 'string' },
      'secrets-dir': { type: 'string' },
    },
    USAGE,
  ) as { values: Record<string, unknown> };
  if (!values.file) {
    console.error(`mqtt2pg migrate: no pipeline given; pass it with -f FILE\n\n${USAGE}`);
    return 2;
  }
  let p: ReturnType<typeof loadSinglePipeline>['resolved'];
  let client: pg.Client;
  try {
    p = loadSinglePipeline(values.file as string, values.name as string | undefined).resolved;
    client = new pg.Client(
      pgClientConfig(
        p,
        new SecretsDir((values['secrets-dir'] as string | undefined) ?? DEFAULT_SECRETS_DIR),
        'migrate',
      ),
    );
  } catch (err) {
    console.error(`mqtt2pg migrate: ${(err as Error).message}`);
    return 2;
  }
  try {
    await client.connect();
    const r = await migrate(
      client,
      p.sink,
      p.routes.filter((x) => !x.builtIn),
    );
    const where = `${p.sink.schema}.${p.sink.table} / ${p.sink.schema}.${p.sink.unparseableTable}`;
    if (r.addedColumns.length > 0) console.log(`route tables: added columns ${r.addedColumns.join(', ')}`);
    console.log(
      r.applied.length > 0
        ? `${where}: applied migration${r.applied.length > 1 ? 's' : ''} ${r.applied.join(', ')}; now at version ${r.current}`
        : `${where}: already at version ${r.current}`,
    );
    return 0;
  } catch (err) {
    console.error(`mqtt2pg migrate: ${explainPgConnectError(err, p)}`);
    return 1;
  } finally {
    await client.end().catch(() => {});
  }
}
