// The Dockerfile as a parser sees it, and the files its build context holds, for dockerfile.check.ts.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../lib/env.ts';

export const read = (p: string) => readFileSync(join(REPO_ROOT, p), 'utf8');

export interface Instruction {
  cmd: string;
  args: string;
  line: number;
}
export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Dockerfile instructions by stage; continuation lines joined, comments and parser directives dropped. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let logical = lines[i] ?? '';
    if (/^\s*(#|$)/.test(logical)) continue;
    while (logical.endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = lines[i] ?? '';
      if (/^\s*#/.test(next)) continue;
      logical = `${logical.slice(0, -1)} ${next.trim()}`;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(logical);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot parse "${logical}"`);
    const cmd = (m[1] as string).toUpperCase();
    const args = (m[2] as string).trim();
    if (cmd === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`Dockerfile line ${start + 1}: cannot parse FROM ${args}`);
      stages.push({ from: f[1] as string, ...(f[2] ? { name: f[2] } : {}), instructions: [] });
    } else if (stages.length > 0) {
      (stages.at(-1) as Stage).instructions.push({ cmd, args, line: start + 1 });
    }
  }
  return stages;
}

/** .dockerignore in the allowlist style this repository uses: `*`, then `!path` re-includes, then excludes. */
export function dockerignore(): { includes: string[]; excludes: RegExp[] } {
  const rules = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  assert.equal(
    rules[0],
    '*',
    '.dockerignore must start with "*" (allowlist): a new file never reaches the image by accident',
  );
  const includes = rules.filter((r) => r.startsWith('!')).map((r) => r.slice(1).replace(/\/$/, ''));
  const excludes = rules
    .slice(1)
    .filter((r) => !r.startsWith('!'))
    .map((r) => {
      const body = r
        .replace(/\/$/, '')
        .split('**/')
        .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'))
        .join('(?:.*/)?');
      return new RegExp(`^(?:.*/)?${body.replace(/^\(\?:\.\*\/\)\?/, '')}(?:/.*)?$`);
    });
  return { includes, excludes };
}

/** The files a `docker build .` context holds (tracked and new files, as git sees them). */
export function contextFiles(): string[] {
  const { includes, excludes } = dockerignore();
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  return files.filter(
    (f) => includes.some((inc) => f === inc || f.startsWith(`${inc}/`)) && !excludes.some((re) => re.test(f)),
  );
}
