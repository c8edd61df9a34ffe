import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_PIPELINE_NAME, pipelineNameProblem } from '../../api/names.ts';
import { canonicalJson, quantity, stableHash } from './meta.ts';

test('quantities take the canonical form the API server stores', () => {
  assert.equal(quantity(1024 ** 3), '1Gi');
  assert.equal(quantity(1.5 * 1024 ** 3), '1536Mi');
  assert.equal(quantity(1000), '1000');
});

test('hashes ignore key order', () => {
  assert.equal(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] }), '{"a":[1,{"c":3,"d":2}],"b":1}');
  assert.equal(stableHash({ a: 1, b: 2 }), stableHash({ b: 2, a: 1 }));
});

test('names that cannot name Services or pods are refused with the limit', () => {
  assert.equal(pipelineNameProblem('fleet-telemetry'), undefined);
  assert.match(pipelineNameProblem('a'.repeat(MAX_PIPELINE_NAME + 1)) ?? '', /at most 45 characters/);
  assert.match(pipelineNameProblem('fleet.telemetry') ?? '', /metadata\.name/);
});
