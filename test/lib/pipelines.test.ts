import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePipelines } from '../../api/load-pipeline.ts';
import { apiPipeline, overlay, unchecked } from './pipelines.ts';

test('overrides merge objects key by key, replace arrays and remove a key given as undefined', () => {
  const base = { a: { b: 1, c: [1, 2] }, d: 'x' };
  assert.deepEqual(overlay(base, { a: { c: [3] }, d: undefined }), { a: { b: 1, c: [3] } });
  assert.deepEqual(base, { a: { b: 1, c: [1, 2] }, d: 'x' }, 'the base is not modified');
});

test('the API server variant passes the loader; unchecked fields reach it; a removed section stays removed', () => {
  const p = apiPipeline('ns1', 'alpha', { replicas: 2 }, 'alpha-pg');
  const loaded = parsePipelines(JSON.stringify(p));
  assert.deepEqual(loaded.problems, []);
  assert.equal(loaded.pipelines[0]?.resolved.sink.postgres.credentials.name, 'alpha-pg');
  assert.equal('sink' in apiPipeline('ns1', 'nosink', { sink: undefined }).spec, false);
  const refused = parsePipelines(JSON.stringify(unchecked(p, { spec: { colour: 'blue' } })));
  assert.deepEqual(
    refused.problems.map((x) => x.path),
    ['spec.colour'],
  );
});
