// The check every consumer of a stored pipeline makes: the loader's rules, naming the field, and the name rule
// the children depend on.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipeline } from '../test/lib/pipelines.ts';
import { checkPipeline } from './check.ts';

test('validation uses the loader’s checks and names the field', () => {
  const { p } = pipeline();
  assert.ok('resolved' in checkPipeline(p));
  const bad = structuredClone(p);
  bad.spec.flusher = { flushers: 12 };
  const out = checkPipeline(bad);
  assert.ok('problem' in out);
  assert.equal(out.problem.reason, 'InvalidSpec');
  assert.match(out.problem.message, /spec\.flusher\.flushers: must lie within/);
  const longName = structuredClone(p);
  longName.metadata.name = 'x'.repeat(50);
  const named = checkPipeline(longName);
  assert.ok('problem' in named && named.problem.reason === 'InvalidName');
});
