// What the two WAL-drain outage scenarios share (local-cluster-outage-scaledown.test.ts and
// local-cluster-outage-deletion.test.ts): PostgreSQL stopped and always started again, the pipeline's WAL
// volumes and drain Jobs as the API server lists them, and the one OUTCOME line the table is built from.

import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { command, kubectl } from '../../lib/env.ts';
import type { Accounting } from '../../lib/ledger.ts';
import type { LocalClusterE2E } from './local-cluster-setup.ts';

export async function postgres(action: 'stop' | 'start'): Promise<void> {
  const r = await command('test/env/service.sh', [action, 'postgres']);
  assert.equal(r.code, 0, `${action} postgres: ${r.stderr}`);
}

/** Runs `body` with PostgreSQL stopped at first; whatever happens, PostgreSQL is running again afterwards. */
export async function withPostgresDown(body: (start: () => Promise<void>) => Promise<void>): Promise<void> {
  let down = true;
  await postgres('stop');
  try {
    await body(async () => {
      await postgres('start');
      down = false;
    });
  } finally {
    if (down) await postgres('start');
  }
}

/** PVC names of the pipeline's WAL volumes, sorted. */
export async function walClaims(c: LocalClusterE2E, pipeline: string): Promise<string[]> {
  const list = await c.core.listNamespacedPersistentVolumeClaim({
    namespace: c.ns,
    labelSelector: `mqtt2pg.io/pipeline=${pipeline}`,
  });
  return list.items.map((x) => x.metadata?.name ?? '').sort();
}

/** Names of the pipeline's drain Jobs. */
export async function drainJobs(c: LocalClusterE2E, pipeline: string): Promise<string[]> {
  const r = await kubectl(['get', 'jobs', '-n', c.ns, '-l', `mqtt2pg.io/pipeline=${pipeline}`, '-o', 'name']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** The line the closing table of issue #11 is built from. */
export function outcome(t: TestContext, operation: string, acknowledged: number, a: Accounting): string {
  const line = `OUTCOME operation=${operation} acknowledged=${acknowledged} stored=${acknowledged - a.missing.length} lost=${a.missing.length} duplicates=${a.duplicates}`;
  console.log(line);
  t.diagnostic(line);
  return line;
}
