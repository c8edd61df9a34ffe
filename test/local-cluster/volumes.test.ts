// The kubelet's atomic volume writer: a process reading a mounted ConfigMap or Secret never sees half an update.

import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeAtomically } from './volumes.ts';

test('writeAtomically: files are symlinks through ..data, swapped as a whole, removed keys disappear', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-atomic-'));
  try {
    writeAtomically(
      dir,
      new Map([
        ['pipeline.yaml', Buffer.from('v1')],
        ['old', Buffer.from('x')],
      ]),
    );
    assert.equal(readFileSync(join(dir, 'pipeline.yaml'), 'utf8'), 'v1');
    assert.ok(lstatSync(join(dir, 'pipeline.yaml')).isSymbolicLink());
    const first = readlinkSync(join(dir, '..data'));
    writeAtomically(dir, new Map([['pipeline.yaml', Buffer.from('v2')]]));
    assert.equal(readFileSync(join(dir, 'pipeline.yaml'), 'utf8'), 'v2');
    assert.notEqual(readlinkSync(join(dir, '..data')), first);
    assert.throws(() => lstatSync(join(dir, 'old')), /ENOENT/);
    assert.throws(() => lstatSync(join(dir, first)), /ENOENT/, 'the previous generation is removed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
