import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from './runtime/kube.ts';
import {
  type ClaimState,
  claimTemplatesDiffer,
  type Expansion,
  planVolumeResize,
  quantityBytes,
  SHRINK_REFUSED,
} from './volume-resize.ts';

const Gi = 2 ** 30;
const claim = (n: number, size: number, o: Partial<ClaimState> = {}): ClaimState => ({
  name: `wal-p-worker-${n}`,
  requestedBytes: size,
  storageClassName: 'fast',
  bound: true,
  ...o,
});
const expandable: Expansion = new Map([['fast', true]]);

test('planVolumeResize: grow, same, shrink, no expansion', () => {
  const cases: Array<{
    name: string;
    desired: number;
    live: number;
    claims: ClaimState[];
    expansion?: Expansion;
    grow?: string[];
    notExpandable?: RegExp[];
    refused?: RegExp;
  }> = [
    {
      name: 'grow: every smaller claim is patched',
      desired: 2 * Gi,
      live: Gi,
      claims: [claim(1, Gi), claim(0, Gi)],
      grow: ['wal-p-worker-0 1Gi → 2Gi', 'wal-p-worker-1 1Gi → 2Gi'],
    },
    {
      name: 'same size (a label or StorageClass change): nothing to grow, the set is still replaced',
      desired: Gi,
      live: Gi,
      claims: [claim(0, Gi)],
      grow: [],
    },
    {
      name: 'a claim grown by hand beyond the new size is left alone, never shrunk',
      desired: 3 * Gi,
      live: 2 * Gi,
      claims: [claim(0, 4 * Gi), claim(1, 2 * Gi)],
      grow: ['wal-p-worker-1 2Gi → 3Gi'],
    },
    {
      name: 'shrink: refused with what to do',
      desired: Gi,
      live: 2 * Gi,
      claims: [claim(0, 2 * Gi)],
      refused: /cannot shrink.*set wal\.storage\.size to 2Gi or more/,
    },
    {
      name: 'StorageClass without allowVolumeExpansion: named, the claim keeps its size',
      desired: 2 * Gi,
      live: Gi,
      claims: [claim(0, Gi)],
      expansion: new Map([['fast', false]]),
      grow: [],
      notExpandable: [/StorageClass fast does not allow volume expansion.*wal-p-worker-0/],
    },
    {
      name: 'StorageClass missing, no StorageClass, claim not bound',
      desired: 2 * Gi,
      live: Gi,
      claims: [
        claim(0, Gi, { storageClassName: 'gone' }),
        claim(1, Gi, { storageClassName: undefined }),
        claim(2, Gi, { bound: false }),
      ],
      grow: [],
      notExpandable: [/StorageClass gone .* does not exist/, /has no StorageClass/, /is not bound/],
    },
  ];
  for (const c of cases) {
    const plan = planVolumeResize({
      set: 'p-worker',
      desiredBytes: c.desired,
      liveBytes: c.live,
      claims: c.claims,
      expansion: c.expansion ?? expandable,
    });
    if (c.refused) {
      assert.equal(plan.action, 'refuse', c.name);
      if (plan.action !== 'refuse') continue;
      assert.equal(plan.problem.reason, SHRINK_REFUSED, c.name);
      assert.match(plan.problem.message, c.refused, c.name);
      continue;
    }
    assert.equal(plan.action, 'replace', c.name);
    if (plan.action !== 'replace') continue;
    assert.deepEqual(
      plan.grow.map((g) => `${g.claim} ${g.from} → ${g.to}`),
      c.grow,
      c.name,
    );
    assert.equal(plan.notExpandable.length, c.notExpandable?.length ?? 0, c.name);
    c.notExpandable?.forEach((re, i) => {
      assert.match(plan.notExpandable[i]?.why ?? '', re, c.name);
    });
    assert.match(plan.message, /re-creating StatefulSet p-worker .*its pods keep running/, c.name);
  }
});

test('claimTemplatesDiffer: a size or StorageClass change differs, fields the API server adds do not', () => {
  const set = (spec: Record<string, unknown>): KubeObject => ({
    kind: 'StatefulSet',
    metadata: { name: 'p-worker' },
    spec: {
      volumeClaimTemplates: [{ metadata: { name: 'wal' }, spec: { accessModes: ['ReadWriteOnce'], ...spec } }],
    },
  });
  const oneGi = { resources: { requests: { storage: '1Gi' } } };
  const live = set({ ...oneGi, volumeMode: 'Filesystem', storageClassName: 'fast' });
  assert.equal(claimTemplatesDiffer(set({ ...oneGi, storageClassName: 'fast' }), live), false);
  assert.equal(claimTemplatesDiffer(set({ resources: { requests: { storage: '2Gi' } } }), live), true);
  assert.equal(claimTemplatesDiffer(set(oneGi), live), true, 'StorageClass dropped');
  assert.equal(claimTemplatesDiffer(set({ ...oneGi, storageClassName: 'slow' }), live), true);
});

test('quantityBytes: the forms the API server writes; an unreadable one is undefined', () => {
  assert.equal(quantityBytes('1536Mi'), 1536 * 2 ** 20);
  assert.equal(quantityBytes('2G'), 2e9);
  assert.equal(quantityBytes('1e9'), undefined);
  assert.equal(quantityBytes(undefined), undefined);
});
