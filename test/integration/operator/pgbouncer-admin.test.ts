// PgBouncer's admin console belongs to the operator (issue 14): the operator renders a pipeline's PgBouncer
// with an admin/stats user of its own, whose generated password only the operator-owned Secret
// `<pipeline>-pgbouncer-admin` holds. A real pgbouncer runs the files the operator applied to the real API
// server (test/lib/pgbouncer-process.ts) in front of the test PostgreSQL: the pipeline's database user gets
// its data through it but is refused on the admin console; the autoscaler's reader gets SHOW POOLS/STATS
// with the admin Secret.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { readPgBouncer } from '../../../operator/autoscale/signals.ts';
import { requireEnv } from '../../lib/env.ts';
import { eventually } from '../../lib/eventually.ts';
import { apply, type OperatorProcess, paths, startOperator } from '../../lib/kube.ts';
import { type PgBouncerProcess, startRenderedPgBouncer } from '../../lib/pgbouncer-process.ts';
import { apiPipeline } from '../../lib/pipelines.ts';
import { cleanUp, client, decode, get, pipelineNamespace } from './operator-setup.ts';

/** Helper 5's port range (61000 + 100*k): no shared service listens there. */
const PORT = 61500;
const db = new URL(requireEnv('DATABASE_URL'));
const database = db.pathname.slice(1);
const worker = { user: decodeURIComponent(db.username), password: decodeURIComponent(db.password) };

describe("PgBouncer's admin console: the operator's own user, never the pipeline's", () => {
  let ns: string;
  let op: OperatorProcess | undefined;
  let bouncer: PgBouncerProcess | undefined;

  before(async () => {
    ns = await pipelineNamespace('pgbadmin', { username: worker.user, password: worker.password });
    op = startOperator(['--watch-namespace', ns, '--lease-namespace', ns]);
    await op.waitForLog(/caches synced/);
  });

  after(async () => {
    await bouncer?.stop();
    await op?.stop();
    await cleanUp(ns);
  });

  const connect = async (user: { user: string; password: string }, dbname: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port: PORT, database: dbname, ...user });
    c.on('error', () => {});
    await c.connect();
    return c;
  };

  test("the worker's user is refused on the admin console; the admin Secret's user reads the pools", async () => {
    await apply(
      ns,
      apiPipeline(ns, 'bouncer', {
        sink: {
          postgres: { host: db.hostname, port: Number(db.port), database, sslMode: 'disable' },
          pgbouncer: { enabled: true },
        },
      }),
    );
    const adminSecret = await eventually(
      () => get<{ data: Record<string, string> }>(paths.secret(ns, 'bouncer-pgbouncer-admin')),
      { what: 'the admin Secret' },
    );
    await eventually(() => get(paths.secret(ns, 'bouncer-pgbouncer-auth')), { what: 'the auth Secret' });
    const admin = { user: decode(adminSecret.data.username), password: decode(adminSecret.data.password) };
    assert.equal(admin.user, 'mqtt2pg_pgbouncer_admin');
    assert.notEqual(admin.user, worker.user);
    bouncer = await startRenderedPgBouncer(client, ns, 'bouncer', PORT);

    // The worker's user gets its data through PgBouncer...
    const data = await connect(worker, database);
    assert.equal((await data.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1);
    // ...but not PgBouncer's admin console: no SHOW POOLS, no SHUTDOWN.
    await assert.rejects(async () => {
      const console = await connect(worker, 'pgbouncer');
      try {
        await console.query('SHOW POOLS');
      } finally {
        await console.end().catch(() => {});
      }
    }, /not allowed|denied|admin/i);
    // The admin user reads them, and sees the worker's pool.
    const console = await connect(admin, 'pgbouncer');
    const pools = (await console.query<{ database: string; user: string }>('SHOW POOLS')).rows;
    await console.end();
    assert.ok(
      pools.some((p) => p.database === database && p.user === worker.user),
      `the worker's pool in SHOW POOLS: ${JSON.stringify(pools)}`,
    );
    await data.end();
    // The autoscaler's reader, with what it reads from the admin Secret.
    const reading = await readPgBouncer(
      { host: '127.0.0.1', port: PORT, database: 'pgbouncer', ...admin, ssl: false },
      database,
      worker.user,
    );
    assert.ok(reading.defaultPoolSize > 0, `default_pool_size read: ${JSON.stringify(reading)}`);
  });
});
