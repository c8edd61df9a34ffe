import assert from 'node:assert/strict';
import { test } from 'node:test';
import { layerProblem, violations } from './check-layers.ts';

test('product code may import only the layers below it', () => {
  assert.equal(layerProblem('worker/main.ts', 'api/defaults.ts'), undefined);
  assert.equal(layerProblem('cli/render.ts', 'operator/desired.ts'), undefined);
  assert.match(layerProblem('api/defaults.ts', 'worker/rows.ts') ?? '', /api\/ imports nothing else of ours/);
  assert.match(layerProblem('operator/apply.ts', 'worker/wal.ts') ?? '', /operator\/ may import only api\/, common\//);
  assert.match(layerProblem('worker/flusher.ts', 'cli/main.ts') ?? '', /layers/);
});

test('product code never imports test code; unit tests may use the shared test helpers', () => {
  assert.match(layerProblem('operator/manager.ts', 'test/lib/env.ts') ?? '', /imports test\//);
  assert.match(layerProblem('worker/wal.ts', 'bench/run.ts') ?? '', /imports bench\//);
  assert.equal(layerProblem('operator/render/worker.test.ts', 'test/lib/pipelines.ts'), undefined);
  assert.match(layerProblem('operator/render/worker.test.ts', 'test/integration/x.ts') ?? '', /imports test\//);
  assert.equal(layerProblem('test/integration/worker/delivery.test.ts', 'worker/wal.ts'), undefined);
});

test('imports are found in static and dynamic forms and resolved against the file', () => {
  const files: Record<string, string> = {
    'worker/main.ts': "import { x } from '../api/x.ts';\nconst d = await import('../test/lib/env.ts');",
    'common/http.ts': "import type { Y } from '../operator/y.ts';",
  };
  const found = violations(Object.keys(files), (f) => files[f] ?? '');
  assert.deepEqual(
    found.map((v) => `${v.file} -> ${v.target}`),
    ['worker/main.ts -> test/lib/env.ts', 'common/http.ts -> operator/y.ts'],
  );
});
