// A clone under a folder other users cannot enter (a 0700 home such as /root) must still run `make test` and
// `make demo`: as root, PostgreSQL and PgBouncer run as the 'postgres' OS user and Mosquitto as 'mosquitto',
// who could not reach their files under <clone>/.test-env. The env scripts then keep those files in a folder of
// their own under /var/tmp (test/env/state.sh) while <clone>/.test-env/env stays where every reader looks.
//
// This copies test/env into a clone-like folder under a 0700 parent and starts a second PostgreSQL, PgBouncer
// and Mosquitto from it on their own ports (61400-61403), beside the shared environment, then stops and purges it.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import pg from 'pg';
import { REPO_ROOT } from '../../lib/env.ts';

const exec = promisify(execFile);
const ports = { PG: 61400, PGBOUNCER: 61401, MQTT: 61402, MQTTS: 61403 };

function envFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z_0-9]+)='?(.*?)'?$/.exec(line);
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

async function selectOne(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one ?? 0;
  } finally {
    await c.end();
  }
}

test('the env scripts run from a clone under a 0700 parent: PostgreSQL, PgBouncer and Mosquitto answer', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'mqtt2pg-private-home-'));
  chmodSync(parent, 0o700);
  const clone = join(parent, 'mqtt2pg');
  mkdirSync(join(clone, 'test'), { recursive: true });
  cpSync(join(REPO_ROOT, 'test/env'), join(clone, 'test/env'), { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.MQTT2PG_TEST_ENV_DIR; // the default: <clone>/.test-env, under the 0700 parent
  for (const [name, port] of Object.entries(ports)) env[`MQTT2PG_TEST_${name}_PORT`] = String(port);
  const script = (name: string, ...args: string[]) =>
    exec(join(clone, 'test/env', name), args, { env, cwd: clone, maxBuffer: 16 * 1024 * 1024 });

  let servicesDir = '';
  try {
    const up = await script('up.sh', '--only', 'postgres,pgbouncer,mosquitto').catch(
      (e: { stderr?: string; stdout?: string }) => {
        throw new Error(`up.sh failed from a 0700 parent:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      },
    );
    assert.match(up.stdout, /test environment ready/);

    const vars = envFile(join(clone, '.test-env/env'));
    servicesDir = readFileSync(join(clone, '.test-env/services-dir'), 'utf8').trim();
    if (process.getuid?.() === 0) {
      assert.match(servicesDir, /^\/var\/tmp\/mqtt2pg-test-env-[0-9a-f]{12}$/, 'as root the services moved out');
      assert.ok(existsSync(join(servicesDir, 'pg/data/PG_VERSION')), 'the database lives there');
    }
    assert.ok(vars.DATABASE_URL?.includes(`:${ports.PG}/`), vars.DATABASE_URL);
    assert.equal(await selectOne(vars.DATABASE_URL ?? ''), 1, 'PostgreSQL answers');
    assert.equal(await selectOne(vars.PGBOUNCER_URL ?? ''), 1, 'PgBouncer answers (and reaches PostgreSQL)');
    assert.ok(existsSync(join(vars.MQTT_TLS_DIR ?? '', 'ca.crt')), 'MQTT_TLS_DIR names the broker CA');
    const client = await mqtt.connectAsync(vars.MQTT_URL ?? '', {
      username: vars.MQTT_USERNAME,
      password: vars.MQTT_PASSWORD,
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    await client.endAsync();
  } finally {
    await script('down.sh', '--purge').catch((e: { stderr?: string }) => console.error(e.stderr));
    rmSync(parent, { recursive: true, force: true });
  }
  if (servicesDir) assert.ok(!existsSync(servicesDir), `down.sh --purge removed ${servicesDir}`);
});
