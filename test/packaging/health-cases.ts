// Turns manifests/argocd/health_test.yaml (Argo CD's test format) and the objects it names into a Lua chunk
// for run-health-tests.lua: Lua 5.4 has no YAML parser, js-yaml is already a dependency.
// Usage: node test/packaging/health-cases.ts > cases.lua

import { readdirSync, readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { REPO_ROOT } from '../lib/env.ts';

const DIR = `${REPO_ROOT}manifests/argocd/`;

export function luaLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot express ${v} in Lua`);
    return String(v);
  }
  if (typeof v === 'string') {
    // Decimal escapes for everything outside printable ASCII: valid in every Lua version, byte-exact.
    let out = '"';
    for (const b of Buffer.from(v, 'utf8')) {
      out +=
        b === 0x22 || b === 0x5c
          ? `\\${String.fromCharCode(b)}`
          : b >= 0x20 && b < 0x7f
            ? String.fromCharCode(b)
            : `\\${b}`;
    }
    return `${out}"`;
  }
  if (v instanceof Date) return luaLiteral(v.toISOString().replace('.000Z', 'Z'));
  if (Array.isArray(v)) return `{${v.map(luaLiteral).join(', ')}}`;
  if (typeof v === 'object') {
    const fields = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== null && x !== undefined)
      .map(([k, x]) => `[${luaLiteral(k)}] = ${luaLiteral(x)}`);
    return `{${fields.join(', ')}}`;
  }
  throw new Error(`cannot express a ${typeof v} in Lua`);
}

interface HealthTests {
  tests: Array<{ healthStatus: { status: string; message: string }; inputPath: string }>;
}

export function casesChunk(): string {
  const spec = load(readFileSync(`${DIR}health_test.yaml`, 'utf8')) as HealthTests;
  const used = new Set(spec.tests.map((t) => t.inputPath));
  const orphans = readdirSync(`${DIR}health-tests`)
    .map((f) => `health-tests/${f}`)
    .filter((f) => !used.has(f));
  if (orphans.length > 0) {
    throw new Error(`${orphans.join(', ')} not listed in manifests/argocd/health_test.yaml: add a test entry for it`);
  }
  const cases = spec.tests.map((t) => ({
    name: t.inputPath,
    obj: load(readFileSync(`${DIR}${t.inputPath}`, 'utf8')),
    status: t.healthStatus.status,
    message: t.healthStatus.message,
  }));
  return `return ${luaLiteral(cases)}\n`;
}

if (import.meta.main) process.stdout.write(casesChunk());
