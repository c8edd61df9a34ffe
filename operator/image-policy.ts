// Which images a pipeline may run (issue 14): whoever may create an IngestPipeline must not pick an arbitrary
// image, since the worker pods mount the pipeline's Secrets and hold its ServiceAccount's token. spec.image
// and spec.sink.pgbouncer.image must come from a repository the operator's --allowed-images lists (default:
// the repository of the operator's own worker image); the operator's own default images are always allowed.
// Decided without I/O; a refused pipeline gets a Degraded condition and nothing is applied for it.

import type { ResolvedPipeline } from '../api/defaults.ts';
import type { IngestPipeline } from '../api/types.ts';
import { DEFAULT_PGBOUNCER_IMAGE, DEFAULT_WORKER_IMAGE } from './render/meta.ts';
import type { Problem } from './status.ts';

export const ALLOWED_IMAGES_FLAG = '--allowed-images';
export const ALLOWED_IMAGES_VALUE = 'operator.allowedImages';

/**
 * The repository of an image reference: without its digest and tag. A colon after the last slash starts a
 * tag; one before it belongs to a registry's port (registry:5000/x).
 */
export function imageRepository(image: string): string {
  const noDigest = image.split('@')[0] ?? '';
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

/**
 * Whether `image` is in a repository `patterns` allows: an entry is a repository (exact), a prefix ending in
 * `/*` (every repository below it), or `*` (any image: the check is off).
 */
export function imageAllowed(image: string, patterns: readonly string[]): boolean {
  const repo = imageRepository(image);
  return patterns.some((p) => {
    if (p === '*') return true;
    if (p.endsWith('/*')) return repo.startsWith(p.slice(0, -1));
    return repo === p;
  });
}

/** The allowlist when --allowed-images is not given: the repository the operator's workers run from. */
export const defaultAllowedImages = (workerImage?: string): string[] => [
  imageRepository(workerImage ?? DEFAULT_WORKER_IMAGE),
];

/** A flag value: comma-separated entries, each a repository, a `prefix/*` or `*`; throws naming the bad one. */
export function parseAllowedImages(value: string): string[] {
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error(`${ALLOWED_IMAGES_FLAG} is empty; name at least one repository or "*"`);
  for (const e of entries) {
    const repo = e.endsWith('/*') ? e.slice(0, -2) : e;
    const valid = e === '*' || (/^[a-z0-9][a-z0-9._:/-]*$/.test(repo) && imageRepository(repo) === repo);
    if (!valid) {
      throw new Error(
        `${ALLOWED_IMAGES_FLAG} entry "${e}" is not a repository (e.g. ghcr.io/mqtt2pg/mqtt2pg), a prefix ending in /* (e.g. registry.example.com/iot/*) or *; tags and digests are not part of an entry`,
      );
    }
  }
  return entries;
}

export interface ImagePolicy {
  /** --allowed-images; undefined: defaultAllowedImages(workerImage). */
  allowedImages?: readonly string[];
  /** The operator's own defaults (--worker-image, --pgbouncer-image): always allowed. */
  workerImage?: string;
  pgbouncerImage?: string;
}

/** The first image of the pipeline's spec outside the allowlist, named with its field and the fix. */
export function imagePolicyProblem(p: IngestPipeline, r: ResolvedPipeline, policy: ImagePolicy): Problem | undefined {
  const allowed = policy.allowedImages ?? defaultAllowedImages(policy.workerImage);
  const asked: Array<[string, string | undefined, string]> = [
    ['spec.image', p.spec.image, policy.workerImage ?? DEFAULT_WORKER_IMAGE],
    ...(r.sink.pgbouncer.enabled
      ? ([
          ['spec.sink.pgbouncer.image', r.sink.pgbouncer.image, policy.pgbouncerImage ?? DEFAULT_PGBOUNCER_IMAGE],
        ] as Array<[string, string | undefined, string]>)
      : []),
  ];
  for (const [field, image, operatorDefault] of asked) {
    if (image === undefined || image === operatorDefault || imageAllowed(image, allowed)) continue;
    return {
      reason: 'ImageNotAllowed',
      message: `${field} "${image}" is not in a repository the operator allows (${allowed.join(', ')}); use an image from one of them, or remove ${field} to run the operator's default, or ask the operator's administrator to add "${imageRepository(image)}" to ${ALLOWED_IMAGES_FLAG} (chart value ${ALLOWED_IMAGES_VALUE})`,
    };
  }
  return undefined;
}

/**
 * The image of a pipeline's drain Jobs (they mount its WAL volumes and Secrets): spec.image when allowed, else
 * the operator's own. A deleted pipeline is drained even when its spec names an image it may not run.
 */
export function drainJobImage(p: IngestPipeline, policy: ImagePolicy): string {
  const allowed = policy.allowedImages ?? defaultAllowedImages(policy.workerImage);
  const own = policy.workerImage ?? DEFAULT_WORKER_IMAGE;
  return p.spec.image && imageAllowed(p.spec.image, allowed) ? p.spec.image : own;
}
