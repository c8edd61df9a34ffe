// The operator against the real kube-apiserver (operator-setup.ts): invalid pipelines, refused by the API
// server's schema or, where only the loader can tell, reported as Degraded with the field named.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dump } from 'js-yaml';
import type { IngestPipeline } from '../../../api/types.ts';
import { kubectl } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, childPaths, condition } from '../../lib/kube.ts';
import { apiPipeline, unchecked } from '../../lib/pipelines.ts';
import { exists, OperatorUnderTest } from './operator-setup.ts';

const c = new OperatorUnderTest();

describe('operator: invalid pipelines', () => {
  c.hooks();

  test('the API server rejects invalid pipelines, naming the field', async () => {
    const cases: Array<[IngestPipeline, RegExp]> = [
      [apiPipeline(c.ns, 'bad1', { replicas: -1 }), /spec\.replicas: Invalid value: -1/],
      [apiPipeline(c.ns, 'bad2', { flusher: { flushers: 0 } }), /spec\.flusher\.flushers: Invalid value/],
      [apiPipeline(c.ns, 'bad3', { wal: { sizeLimit: 'lots' } }), /spec\.wal\.sizeLimit/],
      [
        unchecked(apiPipeline(c.ns, 'bad4'), { spec: { sink: { postgres: { password: 'x' } } } }),
        /spec\.sink\.postgres\.password|unknown field "spec\.sink\.postgres\.password"/,
      ],
    ];
    for (const [p, message] of cases) {
      const doc = dump(p);
      const r = await kubectl(['apply', '-n', c.ns, '-f', '-'], doc);
      assert.notEqual(r.code, 0, `accepted:\n${doc}`);
      assert.match(r.stderr, message);
    }
  });

  test('a pipeline the schema accepts but the loader refuses is Degraded with the field named', async () => {
    // flushers within the schema bounds but above the default maxFlushers (8): only the loader catches it.
    await apply(c.ns, apiPipeline(c.ns, 'zeta', { flusher: { flushers: 12 } }));
    await eventually(
      async () => {
        const s = await c.pipeline('zeta');
        assert.equal(condition(s, 'Degraded')?.reason, 'InvalidSpec');
        assert.match(condition(s, 'Degraded')?.message ?? '', /spec\.flusher\.flushers: must lie within/);
      },
      { what: 'Degraded InvalidSpec' },
    );
  });

  test('an image outside the allowlist is refused with Degraded naming it and the flag; nothing is applied', async () => {
    // Allowed: --allowed-images ghcr.io/mqtt2pg/mqtt2pg,registry.local/* (operator-setup.ts).
    const cases: Array<[string, Parameters<typeof apiPipeline>[2], RegExp]> = [
      ['img1', { image: 'evil.example/miner:1' }, /spec\.image "evil\.example\/miner:1"/],
      // Same name below another registry: the repository must match, not a suffix of it.
      ['img2', { image: 'ghcr.io/mqtt2pg/mqtt2pg-fork:1' }, /spec\.image "ghcr\.io\/mqtt2pg\/mqtt2pg-fork:1"/],
      [
        'img3',
        { sink: { pgbouncer: { enabled: true, image: 'docker.io/someone/pgbouncer:latest' } } },
        /spec\.sink\.pgbouncer\.image "docker\.io\/someone\/pgbouncer:latest"/,
      ],
    ];
    for (const [name, spec] of cases) await apply(c.ns, apiPipeline(c.ns, name, spec));
    for (const [name, , field] of cases) {
      await eventually(
        async () => {
          const d = condition(await c.pipeline(name), 'Degraded');
          assert.equal(d?.status, 'True');
          assert.equal(d?.reason, 'ImageNotAllowed');
          assert.match(d?.message ?? '', field);
          assert.match(d?.message ?? '', /--allowed-images \(chart value operator\.allowedImages\)/);
        },
        { what: `${name} Degraded ImageNotAllowed` },
      );
      for (const path of childPaths(c.ns, name)) assert.equal(await exists(path), false, `${path} was applied`);
    }
    // An allowed one (a prefix entry) is reconciled.
    await apply(c.ns, apiPipeline(c.ns, 'img4', { image: 'registry.local/team/mqtt2pg:2' }));
    await eventually(() => exists(childPaths(c.ns, 'img4')[0] ?? '').then((x) => assert.ok(x)), {
      what: 'img4 applied',
    });
  });
});
