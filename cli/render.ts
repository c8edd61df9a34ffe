// `mqtt2pg render -f FILE`: prints the Kubernetes objects the operator would apply for each pipeline, from
// the same pure function the reconciler applies (operator/desired.ts).

import { readFileSync } from 'node:fs';
import { dump } from 'js-yaml';
import type { ResolvedPipeline } from '../api/defaults.ts';
import { formatProblems, type LoadResult, loadPipelineFile, noPipeline, parsePipelines } from '../api/load-pipeline.ts';
import { secretReferences } from '../api/secret-refs.ts';
import { SecretsDir } from '../common/secrets-dir.ts';
import { desiredPipeline } from '../operator/desired.ts';
import { parseAllowedImages } from '../operator/image-policy.ts';
import type { SecretData } from '../operator/secrets.ts';
import { parseCommandArgs } from './args.ts';

const USAGE = `Usage: mqtt2pg render -f FILE [--secrets-dir DIR] [--worker-image IMAGE] [--pgbouncer-image IMAGE] [--allowed-images LIST]

Prints, as YAML, the objects the operator creates for each IngestPipeline in FILE: worker Deployment (or
StatefulSet), its ConfigMap, ServiceAccount, Role, RoleBinding, PodDisruptionBudget, and PgBouncer's
Deployment, Service, ConfigMap and Secret. Owner references are left out (the pipeline has no uid yet).

  -f, --file FILE          pipeline file, or - for standard input
      --secrets-dir DIR    read the referenced Secrets from DIR/<secret>/<key>: they are checked and
                           PgBouncer's auth file holds the real credentials (printed!). Without it, the auth
                           file holds a placeholder. The pod hashes never cover Secrets here: the operator
                           hashes their resourceVersions, which files do not have.
      --worker-image IMAGE     as the operator's flag
      --pgbouncer-image IMAGE  as the operator's flag
      --allowed-images LIST    as the operator's flag; without it any image renders`;

export async function runRender(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'render',
    argv,
    {
      file: { type: 'string', short: 'f' },
      'secrets-dir': { type: 'string' },
      'worker-image': { type: 'string' },
      'pgbouncer-image': { type: 'string' },
      'allowed-images': { type: 'string' },
    },
    USAGE,
  ) as {
    values: {
      file?: string;
      'secrets-dir'?: string;
      'worker-image'?: string;
      'pgbouncer-image'?: string;
      'allowed-images'?: string;
      help?: boolean;
    };
  };
  if (!values.file) {
    console.error(`mqtt2pg render: no file given; pass one with -f FILE\n\n${USAGE}`);
    return 2;
  }
  const label = values.file === '-' ? '<stdin>' : values.file;
  const result: LoadResult =
    values.file === '-' ? parsePipelines(readFileSync(0, 'utf8')) : loadPipelineFile(values.file);
  if (result.problems.length > 0) {
    console.error(formatProblems(label, result.problems));
    return 2;
  }
  if (result.pipelines.length === 0) {
    console.error(noPipeline(label));
    return 2;
  }
  const dir = values['secrets-dir'] ? new SecretsDir(values['secrets-dir']) : undefined;
  const docs: string[] = [];
  const images = {
    ...(values['worker-image'] ? { workerImage: values['worker-image'] } : {}),
    ...(values['pgbouncer-image'] ? { pgbouncerImage: values['pgbouncer-image'] } : {}),
    // Offline the policy is opt-in: a preview of a pipeline should not need the operator's flags.
    allowedImages: values['allowed-images'] ? parseAllowedImages(values['allowed-images']) : ['*'],
  };
  for (const { pipeline, resolved } of result.pipelines) {
    const secretData = dir ? readSecretsDir(dir, resolved) : undefined;
    const desired = desiredPipeline({ pipeline, resolved, images, ...(secretData ? { secretData } : {}) });
    if (desired.problem) {
      // The operator's message tells how to create the Secret in the cluster; here the files are missing.
      const where = `files under ${dir?.dir}/<secret>/<key>`;
      console.error(`${label}: ${desired.problem.message.replace(/kubectl create secret[^)]*/g, where)}`);
      return 2;
    }
    for (const o of desired.objects) docs.push(dump(o, { lineWidth: 120, noRefs: true }));
  }
  process.stdout.write(`---\n${docs.join('---\n')}`);
  return 0;
}

/** The referenced Secrets found under DIR/<secret>/<key>, in the API's shape (key → base64). */
function readSecretsDir(dir: SecretsDir, r: ResolvedPipeline): Map<string, SecretData> {
  const data = new Map<string, SecretData>();
  for (const ref of secretReferences(r)) {
    try {
      const value = dir.readBytes(ref).toString('base64');
      data.set(ref.secret, { ...(data.get(ref.secret) ?? {}), [ref.key]: value });
    } catch {}
  }
  return data;
}
