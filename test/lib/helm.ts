// The pinned helm (test/env/versions.sh HELM_VERSION), built into the tools directory by
// scripts/check-packaging.sh (test/env/build-go-tool.sh helm).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './env.ts';

/** Sourced like the shell scripts do: `NAME=value` lines of a versions file. */
export function shellVars(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(join(REPO_ROOT, path), 'utf8')
      .split('\n')
      .map((l) => /^([A-Z0-9_]+)=([^$\s]+)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]]),
  );
}

const TOOLS_BIN =
  process.env.MQTT2PG_TOOLS_DIR ?? join(process.env.XDG_CACHE_HOME ?? `${process.env.HOME}/.cache`, 'mqtt2pg/tools');
export const HELM = join(TOOLS_BIN, `helm-${shellVars('test/env/versions.sh').HELM_VERSION}`);
