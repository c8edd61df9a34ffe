import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { load } from 'js-yaml';
import { OPERATOR_MALLOC_ARENA_MAX, OPERATOR_NODE_OPTIONS } from './manifests.ts';

test('the chart runs the operator with the heap and malloc settings the bench measured', () => {
  const values = load(readFileSync(new URL('../charts/mqtt2pg/values.yaml', import.meta.url), 'utf8')) as {
    operator: { nodeOptions: string; mallocArenaMax: string };
  };
  assert.equal(values.operator.nodeOptions, OPERATOR_NODE_OPTIONS);
  assert.equal(values.operator.mallocArenaMax, OPERATOR_MALLOC_ARENA_MAX);
});
