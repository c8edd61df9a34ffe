// `make demo` in a short form (small load, one worker pod): scripts/demo.sh itself against the running test
// environment, so the README's first command cannot rot. It must exit 0, show the pipeline going Ready in the
// watch, the rows it names must be in PostgreSQL, and the pipeline must be gone from the API server afterwards.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { command, kubectl, requireEnv } from '../../lib/env.ts';

test('make demo (short form): kubectl apply, Ready, rows landed, status columns, describe, deleted', async () => {
  const ns = `demo-${randomBytes(3).toString('hex')}`;
  const started = performance.now();
  const r = await command('bash', [
    '-c',
    `DEMO_NAMESPACE=${ns} DEMO_RATE=300 DEMO_DURATION=3s DEMO_REPLICAS=1 exec scripts/demo.sh`,
  ]);
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 0, `scripts/demo.sh failed:\n${out}`);

  const name = /pipeline (demo-[0-9a-f]+) was Ready/.exec(out)?.[1];
  assert.ok(name, `the tour names the pipeline it ran:\n${out}`);
  assert.match(out, new RegExp(`^\\s+${name}\\s+True\\s`, 'm'), 'kubectl get -w showed it Ready');
  assert.match(out, /loadgen: \ds sent \d+ acked \d+/, 'the load progress line');
  assert.match(out, /== The status columns under load/);
  assert.match(out, /bad_device_id|bad_tenant|invalid_json|topic_too_long/, 'unparseable reasons');
  assert.match(out, /\$ kubectl describe ingestpipeline/);
  assert.match(out, new RegExp(`ingestpipeline.mqtt2pg.io "${name}" deleted`));

  const stored = /stored (\d+) of (\d+)/.exec(out);
  assert.ok(stored, 'the tour reports what was stored');
  const acked = Number(stored[2]);
  assert.ok(acked > 500, `about 900 messages acknowledged (got ${acked})`);

  // The rows are in PostgreSQL, not just in the tour's text.
  const db = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  await db.connect();
  try {
    const id = name.slice('demo-'.length);
    const rows = await db.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM t_${id}) + (SELECT count(*) FROM u_${id}) AS n`,
    );
    assert.ok(Number(rows.rows[0]?.n) >= acked, `every acknowledged message is a row: ${rows.rows[0]?.n} < ${acked}`);
    await db.query(`DROP TABLE t_${id}, u_${id}`);
  } finally {
    await db.end();
  }

  const left = await kubectl(['get', 'ingestpipelines,pods', '-n', ns, '-o', 'name']);
  assert.equal(left.stdout.trim(), '', 'no pipeline or pod left in the demo namespace');
  const seconds = (performance.now() - started) / 1000;
  assert.ok(seconds < 90, `the short demo took ${seconds.toFixed(1)} s (it takes about 30 s; budget 90 s)`);
});
