// The desired state of one pipeline, in one pure call: from the pipeline object, its resolved spec, the data
// of the Secrets it references and the operator's default images, the sizes it runs at and every object it
// owns, or the Secret problem that blocks it. The model Strimzi calls KafkaCluster: the reconciler applies
// its objects and reports its sizes; `mqtt2pg render` prints the same objects.

import type { ResolvedPipeline } from '../api/defaults.ts';
import { type SecretKeyReference, secretReferences } from '../api/secret-refs.ts';
import { effectiveSizes, type Sizes } from '../api/sizes.ts';
import type { IngestPipeline } from '../api/types.ts';
import { type ImagePolicy, imagePolicyProblem } from './image-policy.ts';
import { type RenderOptions, renderAll } from './render/index.ts';
import type { KubeObject } from './runtime/kube.ts';
import {
  credentialsOf,
  pgbouncerCredentialsProblem,
  type SecretData,
  type SecretProblem,
  secretProblem,
} from './secrets.ts';
import type { Problem } from './status.ts';

/**
 * The operator-wide defaults (--worker-image, --pgbouncer-image; the spec's own images win; --drain-timeout),
 * where the operator runs (its NetworkPolicy peer) and which images a spec may name (--allowed-images).
 */
export type Images = Pick<RenderOptions, 'workerImage' | 'pgbouncerImage' | 'operatorNamespace' | 'drainTimeout'> &
  Pick<ImagePolicy, 'allowedImages'>;

export interface DesiredInput {
  pipeline: IngestPipeline;
  resolved: ResolvedPipeline;
  /**
   * Data of the referenced Secrets that exist (name → key → base64). Undefined renders offline: no Secret
   * is checked, the pod hashes leave Secrets out and PgBouncer's auth file holds a placeholder.
   */
  secretData?: Map<string, SecretData>;
  /** resourceVersion of each referenced Secret that exists: the pod hashes follow these, never the values. */
  secretVersions?: Map<string, string>;
  images?: Images;
  /** PgBouncer's admin password, generated once by the operator (operator/pgbouncer-admin.ts); '' offline. */
  pgbouncerAdmin?: string;
}

export interface DesiredPipeline {
  /** Sizes in effect: the spec's, or the autoscaler's within the spec's bounds. */
  sizes: Sizes;
  secretRefs: SecretKeyReference[];
  /** A missing Secret or key, or an image outside the allowlist: nothing is rendered, the user has to act. */
  problem?: SecretProblem | Problem;
  /** Every child object, in apply order; empty when there is a problem. */
  objects: KubeObject[];
}

export function desiredPipeline({
  pipeline,
  resolved,
  secretData,
  secretVersions,
  images = {},
  pgbouncerAdmin,
}: DesiredInput): DesiredPipeline {
  const sizes = effectiveSizes(pipeline, resolved);
  const secretRefs = secretReferences(resolved);
  const refused = imagePolicyProblem(pipeline, resolved, images);
  if (refused) return { sizes, secretRefs, problem: refused, objects: [] };
  const missing = secretData ? secretProblem(resolved.namespace, secretRefs, secretData) : undefined;
  if (missing) return { sizes, secretRefs, problem: missing, objects: [] };
  const pgCredentials = secretData && resolved.sink.pgbouncer.enabled ? credentialsOf(resolved, secretData) : undefined;
  const invalid = pgCredentials && pgbouncerCredentialsProblem(resolved, pgCredentials);
  if (invalid) return { sizes, secretRefs, problem: invalid, objects: [] };
  const migrationRef = resolved.sink.postgres.migrationCredentials;
  const migrationCredentials =
    secretData && pgCredentials && migrationRef ? credentialsOf(resolved, secretData, migrationRef) : undefined;
  const invalidMigration =
    migrationCredentials &&
    pgbouncerCredentialsProblem(
      resolved,
      migrationCredentials,
      migrationRef,
      'spec.sink.postgres.migrationCredentialsSecretRef',
    );
  if (invalidMigration) return { sizes, secretRefs, problem: invalidMigration, objects: [] };
  const { allowedImages: _, ...renderImages } = images;
  const objects = renderAll(pipeline, resolved, {
    ...renderImages,
    ...sizes,
    ...(secretVersions ? { secretVersions } : {}),
    ...(pgCredentials ? { pgCredentials } : {}),
    ...(migrationCredentials ? { migrationCredentials } : {}),
    ...(pgbouncerAdmin ? { pgbouncerAdminPassword: pgbouncerAdmin } : {}),
  });
  return { sizes, secretRefs, objects };
}
