// `make lint` runs this: every relative import must respect the layers of docs/architecture.md. Product code
// (api → common → worker | operator → cli, and crds/ for the generator) never imports test/, bench/ or
// scripts/; a unit test next to product code may also import the shared test helpers in test/lib/.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** What each product folder may import (besides itself and packages). */
const ALLOWED: Record<string, string[]> = {
  api: [],
  common: ['api'],
  worker: ['api', 'common'],
  operator: ['api', 'common'],
  crds: ['api'],
  cli: ['api', 'common', 'worker', 'operator', 'crds'],
};

const IMPORT = /(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

export interface Violation {
  file: string;
  target: string;
  why: string;
}

const topOf = (path: string) => path.split('/')[0] ?? '';

/** The rule broken by `file` importing `target` (both repository-relative), or undefined. */
export function layerProblem(file: string, target: string): string | undefined {
  const from = topOf(file);
  const to = topOf(target);
  const allowed = ALLOWED[from];
  if (!allowed || from === to) return undefined;
  if (file.endsWith('.test.ts') && target.startsWith('test/lib/')) return undefined;
  if (allowed.includes(to)) return undefined;
  if (to === 'test' || to === 'bench' || to === 'scripts') {
    return `product code in ${from}/ imports ${to}/: move what it needs into the product, or the file into ${to}/`;
  }
  const may = allowed.length
    ? `may import only ${allowed.map((a) => `${a}/`).join(', ')}`
    : 'imports nothing else of ours';
  return `${from}/ ${may} (layers: api → common → worker | operator → cli)`;
}

export function violations(files: string[], read: (f: string) => string): Violation[] {
  const out: Violation[] = [];
  for (const file of files) {
    for (const m of read(file).matchAll(IMPORT)) {
      const target = normalize(join(dirname(file), m[1] ?? ''));
      const why = layerProblem(file, target);
      if (why) out.push({ file, target, why });
    }
  }
  return out;
}

if (import.meta.main) {
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '*.ts'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f && !f.startsWith('node_modules/'));
  const found = violations(files, (f) => readFileSync(join(ROOT, f), 'utf8'));
  for (const v of found) console.error(`${v.file}: imports ${relative('.', v.target)}: ${v.why}`);
  if (found.length > 0) {
    console.error(`layers: ${found.length} import(s) break the layering of docs/architecture.md`);
    process.exit(1);
  }
  console.log(`layers: ${files.length} files respect the layering`);
}
