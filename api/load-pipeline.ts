// The one way every command reads a pipeline: YAML (one or many documents) → schema check → CEL twins →
// defaults. Problems are collected, never thrown one at a time, so a user fixes a file in one pass.

import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { loadAll, type YAMLException } from 'js-yaml';
import { celEquivalents, celReportPaths, isTransitionRule } from './cel-equivalents.ts';
import { type ResolvedPipeline, resolvePipeline } from './defaults.ts';
import { routeProblems } from './route-checks.ts';
import {
  BYTES_PATTERN,
  DURATION_PATTERN,
  K8S_NAME_PATTERN,
  type Schema,
  SECRET_KEY_PATTERN,
  SQL_IDENTIFIER_PATTERN,
} from './schema-builders.ts';
import { limitProblems } from './schema-limits.ts';
import {
  COLUMN_SOURCE_PATTERN,
  PARTITION_INTERVAL_PATTERN,
  TOPIC_FILTER_PATTERN,
  TOPIC_PATTERN_PATTERN,
} from './schema-routes.ts';
import { API_VERSION, BROKER_URL_PATTERN, type IngestPipeline, KIND } from './types.ts';
import { schemaAt, validationSchema } from './validation-schema.ts';

export interface Problem {
  /** 1-based document number in the file. */
  document: number;
  /** Field path in kubectl explain style, e.g. spec.source.brokers[0]. Empty for whole-document problems. */
  path: string;
  message: string;
}

export interface LoadedPipeline {
  document: number;
  pipeline: IngestPipeline;
  resolved: ResolvedPipeline;
}

export interface LoadResult {
  pipelines: LoadedPipeline[];
  problems: Problem[];
  /** Documents of other kinds (e.g. a Secret next to the pipeline), skipped. */
  skipped: Array<{ document: number; kind: string }>;
}

const SCHEMA = validationSchema();

const ajv = new Ajv({
  allErrors: true,
  strict: true,
  strictTypes: false,
  formats: { 'date-time': /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/ },
  keywords: [
    'x-kubernetes-validations',
    'x-kubernetes-int-or-string',
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-map-type',
  ],
});
const validate = ajv.compile(SCHEMA);

const PATTERN_WORDS: Record<string, string> = {
  [DURATION_PATTERN]: 'a duration such as "250ms", "15s", "2m" or "1h30m"',
  [BYTES_PATTERN]: 'a byte quantity such as "512Mi", "1Gi" or "1000000"',
  [SQL_IDENTIFIER_PATTERN]:
    'a lower-case SQL identifier: a letter or _ first, then letters, digits or _, at most 63 characters',
  [K8S_NAME_PATTERN]: 'a Kubernetes object name: lower-case letters, digits, "-" and "."',
  [SECRET_KEY_PATTERN]: 'a Secret key: letters, digits, "-", "_" and "."',
  [BROKER_URL_PATTERN]: 'a broker URL such as "mqtt://mosquitto:1883" or "mqtts://broker:8883"',
  [TOPIC_FILTER_PATTERN]: 'an MQTT topic filter: + and # only as whole levels, # only last',
  [TOPIC_PATTERN_PATTERN]:
    'a topic pattern: levels that are literals, {name}, {name:uuid} or, last, {name+}, with lower-case capture names',
  [COLUMN_SOURCE_PATTERN]:
    'a source: topic.<capture>, topic, payload, payload.<path> (e.g. payload.a.b[0].c), property.<name>, contentType or receivedAt',
  [PARTITION_INTERVAL_PATTERN]: 'an interval in hours, days or weeks such as "6h", "1d" or "1w"',
};

// Field names that only ever hold a credential. Such a field is never part of the API: the value
// belongs in a Secret, referenced by name.
const CREDENTIAL_FIELD =
  /^(password|passwd|pass|secret|token|secretAccessKey|accessKeyId|accessKey|privateKey|key|dsn|connectionString|uri)$/i;

function credentialHint(parentPath: string): string {
  if (parentPath.startsWith('spec.source')) return 'source.auth.secretRef (keys username, password)';
  if (parentPath.startsWith('spec.deadLetter'))
    return 'deadLetter.s3.credentialsSecretRef (keys accessKeyId, secretAccessKey)';
  if (parentPath.startsWith('spec.autoscaling')) return 'autoscaling.postgresMonitoring.credentialsSecretRef';
  return 'sink.postgres.credentialsSecretRef (keys username, password)';
}

const toPath = (segments: Array<string | number>) =>
  segments.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');

const segmentsOf = (instancePath: string): Array<string | number> =>
  instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));

const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v)));

const firstSentence = (text: string | undefined) => (text ? text.split(/(?<=\.)\s/)[0] : '');

function describeError(e: ErrorObject, doc: unknown): { path: string; message: string } | undefined {
  const segs = segmentsOf(e.instancePath);
  const path = toPath(segs);
  const value = segs.reduce<unknown>((v, s) => (v as Record<string | number, unknown> | undefined)?.[s], doc);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required': {
      const field = String(p.missingProperty);
      const fieldSchema = schemaAt(SCHEMA, [...segs, field]);
      const what = firstSentence(fieldSchema?.description);
      return { path: toPath([...segs, field]), message: `is required${what ? ` (${what})` : ''}` };
    }
    case 'additionalProperties': {
      const field = String(p.additionalProperty);
      const fieldPath = toPath([...segs, field]);
      if (CREDENTIAL_FIELD.test(field)) {
        return {
          path: fieldPath,
          message: `plain-text credentials are not accepted in a pipeline; put the value in a Secret and reference it from ${credentialHint(path)}`,
        };
      }
      const allowed = Object.keys(schemaAt(SCHEMA, segs)?.properties ?? {}).join(', ');
      return { path: fieldPath, message: `unknown field; the fields allowed here are: ${allowed}` };
    }
    case 'enum':
      return {
        path,
        message: `must be one of ${(p.allowedValues as unknown[]).map(show).join(', ')} (got ${show(value)})`,
      };
    case 'pattern': {
      const words = PATTERN_WORDS[String(p.pattern)] ?? `a value matching ${String(p.pattern)}`;
      return { path, message: `must be ${words} (got ${show(value)})` };
    }
    case 'type':
      return {
        path,
        message: `must be ${/^[aeiou]/.test(String(p.type)) ? 'an' : 'a'} ${p.type} (got ${show(value)})`,
      };
    case 'minimum':
    case 'maximum':
      return {
        path,
        message: `must be ${e.keyword === 'minimum' ? 'at least' : 'at most'} ${p.limit} (got ${show(value)})`,
      };
    case 'minItems':
      return { path, message: `needs at least ${p.limit} item${p.limit === 1 ? '' : 's'}` };
    case 'maxItems':
      return { path, message: `takes at most ${p.limit} items` };
    case 'minLength':
      return { path, message: p.limit === 1 ? 'must not be empty' : `must be at least ${p.limit} characters` };
    case 'maxLength':
      return { path, message: `must be at most ${p.limit} characters (got ${String(value).length})` };
    case 'anyOf':
      // The branches report the details (e.g. int-or-string); the union itself adds nothing.
      return undefined;
    default:
      return { path, message: e.message ?? 'is invalid' };
  }
}

/** Evaluates the CEL rules' JavaScript twins over the document, walking schema and value together. */
function celProblems(
  schema: Schema,
  value: unknown,
  segs: Array<string | number>,
  out: Array<{ path: string; message: string }>,
) {
  if (value === undefined || value === null) return;
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    if (isTransitionRule(rule.rule)) continue;
    const check = celEquivalents[rule.rule];
    const at =
      celReportPaths[rule.rule] ??
      (rule.fieldPath ? toPath([...segs, ...rule.fieldPath.split('.').filter(Boolean)]) : toPath(segs));
    let ok = true;
    try {
      ok = !check || check(value);
    } catch {
      // A value of the wrong type: the schema error for it is already reported.
    }
    if (!ok) out.push({ path: at, message: rule.message });
  }
  if (schema.properties && typeof value === 'object') {
    for (const [k, sub] of Object.entries(schema.properties)) {
      celProblems(sub, (value as Record<string, unknown>)[k], [...segs, k], out);
    }
  }
  if (schema.items && Array.isArray(value)) {
    value.forEach((v, i) => {
      celProblems(schema.items as Schema, v, [...segs, i], out);
    });
  }
}

/** Checks that need the defaults applied (a bound left to its default can still be crossed). */
function resolvedProblems(r: ResolvedPipeline): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  const f = r.flusher;
  if (f.flushers < f.minFlushers || f.flushers > f.maxFlushers) {
    out.push({
      path: 'spec.flusher.flushers',
      message: `must lie within flusher.minFlushers..maxFlushers (${f.minFlushers}..${f.maxFlushers}); got ${f.flushers}`,
    });
  }
  if (f.initialBackoffMs > f.maxBackoffMs) {
    out.push({ path: 'spec.flusher.retry.initialBackoff', message: 'must not exceed flusher.retry.maxBackoff' });
  }
  out.push(...limitProblems(r.limits));
  if (r.wal.storage.sizeBytes < r.wal.sizeLimitBytes) {
    out.push({
      path: 'spec.wal.storage.size',
      message: 'must be at least wal.sizeLimit, or the volume fills before the WAL limit applies backpressure',
    });
  }
  return out;
}

function dedupe(list: Array<{ path: string; message: string }>) {
  const seen = new Set<string>();
  return list.filter((p) => {
    const k = `${p.path}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function parsePipelines(text: string): LoadResult {
  const result: LoadResult = { pipelines: [], problems: [], skipped: [] };
  let docs: unknown[];
  try {
    docs = loadAll(text);
  } catch (err) {
    const e = err as YAMLException;
    const where = e.mark ? ` at line ${e.mark.line + 1}, column ${e.mark.column + 1}` : '';
    result.problems.push({ document: 0, path: '', message: `not valid YAML${where}: ${e.reason ?? e.message}` });
    return result;
  }
  docs.forEach((doc, i) => {
    const document = i + 1;
    if (doc === null || doc === undefined) return;
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      result.problems.push({ document, path: '', message: 'must be a YAML mapping (an IngestPipeline object)' });
      return;
    }
    const kind = (doc as { kind?: unknown }).kind;
    if (typeof kind === 'string' && kind !== KIND) {
      result.skipped.push({ document, kind });
      return;
    }
    const found: Array<{ path: string; message: string }> = [];
    if (!validate(doc)) {
      for (const e of validate.errors ?? []) {
        const d = describeError(e, doc);
        if (d) found.push(d);
      }
    }
    // A rule about a field that already has a schema error would only repeat it less precisely.
    const cel: Array<{ path: string; message: string }> = [];
    celProblems(SCHEMA, doc, [], cel);
    const schemaPaths = new Set(found.map((f) => f.path));
    found.push(...cel.filter((c) => !schemaPaths.has(c.path)));
    if (found.length === 0) {
      const pipeline = doc as IngestPipeline;
      const resolved = resolvePipeline(pipeline);
      found.push(...resolvedProblems(resolved), ...routeProblems(pipeline.spec));
      if (found.length === 0) {
        result.pipelines.push({ document, pipeline, resolved });
        return;
      }
    }
    for (const p of dedupe(found)) result.problems.push({ document, ...p });
  });
  return result;
}

export function loadPipelineFile(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
    return {
      pipelines: [],
      problems: [{ document: 0, path: '', message: `cannot read ${file}: ${why}` }],
      skipped: [],
    };
  }
  return parsePipelines(text);
}

/** What a command says of a file without a pipeline in it. */
export const noPipeline = (file: string) => `${file}: holds no ${KIND} (apiVersion: ${API_VERSION}, kind: ${KIND})`;

export function formatProblems(file: string, problems: Problem[]): string {
  return problems
    .map((p) => {
      const where = p.document > 0 ? `${file} (document ${p.document})` : file;
      return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
    })
    .join('\n');
}

/**
 * For commands that run exactly one pipeline (worker, migrate): the single pipeline in the file, or an
 * error that says what was wrong.
 */
export function loadSinglePipeline(file: string, name?: string): LoadedPipeline {
  const r = loadPipelineFile(file);
  if (r.problems.length > 0) throw new PipelineFileError(formatProblems(file, r.problems));
  const candidates = name ? r.pipelines.filter((p) => p.pipeline.metadata.name === name) : r.pipelines;
  if (candidates.length === 0) {
    throw new PipelineFileError(
      name ? `${file}: no IngestPipeline named "${name}"` : `${file}: holds no IngestPipeline (kind: IngestPipeline)`,
    );
  }
  if (candidates.length > 1) {
    const names = candidates.map((c) => c.pipeline.metadata.name).join(', ');
    throw new PipelineFileError(`${file}: holds several IngestPipelines (${names}); choose one with --name`);
  }
  return candidates[0] as LoadedPipeline;
}

export class PipelineFileError extends Error {
  override name = 'PipelineFileError';
}
