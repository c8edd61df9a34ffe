// The pipeline name rule, once: the CRD's CEL rule, its JavaScript twin and the operator's check all come
// from here. Every child's name derives from the pipeline's, so the rule is what keeps them valid.

/** Longest pipeline name whose derived names all stay valid (StatefulSet pods: "<name>-worker-<ordinal>" ≤ 63). */
export const MAX_PIPELINE_NAME = 45;
/** Service names are DNS-1035 labels: a letter first, no dots. */
export const PIPELINE_NAME_PATTERN = '^[a-z]([-a-z0-9]*[a-z0-9])?$';

export const PIPELINE_NAME_RULE = `self.metadata.name.size() <= ${MAX_PIPELINE_NAME} && self.metadata.name.matches('${PIPELINE_NAME_PATTERN}')`;

const NAME = new RegExp(PIPELINE_NAME_PATTERN);

/** Why a pipeline name cannot carry children, or undefined. */
export function pipelineNameProblem(name: string): string | undefined {
  if (name.length > MAX_PIPELINE_NAME || !NAME.test(name)) {
    return `metadata.name "${name}" cannot name the pipeline's Services and pods: use at most ${MAX_PIPELINE_NAME} characters of lower-case letters, digits and "-", starting with a letter (recreate the pipeline under such a name)`;
  }
  return undefined;
}
