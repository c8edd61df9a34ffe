import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pipeline } from '../test/lib/pipelines.ts';
import {
  defaultAllowedImages,
  drainJobImage,
  imageAllowed,
  imagePolicyProblem,
  imageRepository,
  parseAllowedImages,
} from './image-policy.ts';
import { DEFAULT_PGBOUNCER_IMAGE } from './render/meta.ts';

test('the repository of an image drops its tag and digest, not a registry port', () => {
  assert.equal(imageRepository('ghcr.io/mqtt2pg/mqtt2pg:0.1.0'), 'ghcr.io/mqtt2pg/mqtt2pg');
  assert.equal(imageRepository('registry:5000/x/y@sha256:abc'), 'registry:5000/x/y');
  assert.equal(imageRepository('registry:5000/x/y:1@sha256:abc'), 'registry:5000/x/y');
  assert.equal(imageRepository('busybox'), 'busybox');
});

test('an entry matches its repository exactly, a /* entry everything below it, * anything', () => {
  const allowed = ['ghcr.io/mqtt2pg/mqtt2pg', 'registry.acme.io/iot/*'];
  assert.ok(imageAllowed('ghcr.io/mqtt2pg/mqtt2pg:9', allowed));
  assert.ok(imageAllowed('registry.acme.io/iot/a/b:1', allowed));
  assert.ok(!imageAllowed('ghcr.io/mqtt2pg/mqtt2pg-evil:1', allowed));
  assert.ok(!imageAllowed('ghcr.io/mqtt2pg/mqtt2pg/x:1', allowed));
  assert.ok(!imageAllowed('registry.acme.io/iotx/a:1', allowed));
  assert.ok(imageAllowed('anything/at:all', ['*']));
});

test('the default allowlist is the repository of the worker image', () => {
  assert.deepEqual(defaultAllowedImages('reg.example/mq/mqtt2pg:1.2'), ['reg.example/mq/mqtt2pg']);
  assert.deepEqual(defaultAllowedImages(), ['ghcr.io/mqtt2pg/mqtt2pg']);
});

test('--allowed-images refuses tags, digests and stray wildcards, naming the entry', () => {
  assert.deepEqual(parseAllowedImages(' a.io/x , b.io/y/* '), ['a.io/x', 'b.io/y/*']);
  assert.throws(() => parseAllowedImages('a.io/x:1'), /entry "a\.io\/x:1" is not a repository/);
  assert.throws(() => parseAllowedImages('a.io/x*'), /entry "a\.io\/x\*"/);
  assert.throws(() => parseAllowedImages(','), /is empty/);
});

test('a spec image outside the list is refused naming the field, the image and the flag; defaults always pass', () => {
  const { p, r } = pipeline({ image: 'evil.example/miner:1' });
  const problem = imagePolicyProblem(p, r, {});
  assert.equal(problem?.reason, 'ImageNotAllowed');
  assert.match(problem?.message ?? '', /^spec\.image "evil\.example\/miner:1" is not in a repository/);
  assert.match(
    problem?.message ?? '',
    /add "evil\.example\/miner" to --allowed-images \(chart value operator\.allowedImages\)/,
  );
  assert.equal(imagePolicyProblem(p, r, { allowedImages: ['evil.example/*'] }), undefined);
  assert.equal(imagePolicyProblem(p, r, { workerImage: 'evil.example/miner:1' }), undefined);
  const bouncer = pipeline({ sink: { pgbouncer: { enabled: true, image: DEFAULT_PGBOUNCER_IMAGE } } });
  assert.equal(imagePolicyProblem(bouncer.p, bouncer.r, {}), undefined);
  const other = pipeline({ sink: { pgbouncer: { enabled: true, image: 'x.io/pgbouncer:1' } } });
  assert.match(imagePolicyProblem(other.p, other.r, {})?.message ?? '', /^spec\.sink\.pgbouncer\.image "x\.io/);
});

test("drain Jobs run spec.image only when it is allowed, else the operator's worker image", () => {
  const { p } = pipeline({ image: 'evil.example/miner:1' });
  assert.equal(drainJobImage(p, { workerImage: 'ghcr.io/mqtt2pg/mqtt2pg:7' }), 'ghcr.io/mqtt2pg/mqtt2pg:7');
  assert.equal(drainJobImage(p, { allowedImages: ['evil.example/*'] }), 'evil.example/miner:1');
  assert.equal(drainJobImage(pipeline().p, { workerImage: 'w:1' }), 'w:1');
});
