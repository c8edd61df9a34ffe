// `mqtt2pg validate -f FILE`: every problem in one pass, each with its field path; exit 2 when any.

import { readFileSync } from 'node:fs';
import { formatProblems, type LoadResult, loadPipelineFile, noPipeline, parsePipelines } from '../api/load-pipeline.ts';
import { secretReferences } from '../api/secret-refs.ts';
import { SecretsDir } from '../common/secrets-dir.ts';
import { parseCommandArgs } from './args.ts';

const USAGE = `Usage: mqtt2pg validate -f FILE [-f FILE ...] [--secrets-dir DIR]

Checks IngestPipeline files (one or many YAML documents each; other kinds are skipped) against the API
schema and its rules, the same checks the API server makes. Exit 0 when all are valid, 2 otherwise.

  -f, --file FILE        pipeline file, or - for standard input (repeatable)
      --secrets-dir DIR  also check that every referenced Secret key exists as DIR/<secret>/<key>`;

export async function runValidate(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'validate',
    argv,
    {
      file: { type: 'string', short: 'f', multiple: true },
      'secrets-dir': { type: 'string' },
    },
    USAGE,
  ) as { values: { file?: string[]; 'secrets-dir'?: string; help?: boolean } };
  const files = values.file ?? [];
  if (files.length === 0) {
    console.error(`mqtt2pg validate: no file given; pass one with -f FILE\n\n${USAGE}`);
    return 2;
  }
  const secrets = values['secrets-dir'] ? new SecretsDir(values['secrets-dir']) : undefined;
  let failed = false;
  for (const file of files) {
    const result: LoadResult = file === '-' ? parsePipelines(readFileSync(0, 'utf8')) : loadPipelineFile(file);
    const label = file === '-' ? '<stdin>' : file;
    if (secrets) {
      for (const p of result.pipelines) {
        for (const message of secrets.missing(secretReferences(p.resolved))) {
          result.problems.push({ document: p.document, path: '', message });
        }
      }
    }
    if (result.problems.length > 0) {
      failed = true;
      console.error(formatProblems(label, result.problems));
      const n = result.problems.length;
      console.error(`${label}: ${n} problem${n === 1 ? '' : 's'}`);
      continue;
    }
    if (result.pipelines.length === 0) {
      failed = true;
      console.error(noPipeline(label));
      continue;
    }
    for (const p of result.pipelines) {
      const { namespace, name } = p.resolved;
      console.log(`${label}: IngestPipeline ${namespace}/${name} is valid`);
    }
    for (const s of result.skipped)
      console.log(`${label}: document ${s.document} (${s.kind}) skipped: not an IngestPipeline`);
  }
  return failed ? 2 : 0;
}
