import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateAdminPassword } from '../pgbouncer-admin.ts';
import { adminCredentials, adminPasswordOf } from './pgbouncer-admin.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('a generated admin password is 192 random bits that need no quoting, and reads back from its Secret', () => {
  const a = generateAdminPassword();
  assert.match(a, /^[A-Za-z0-9_-]{32}$/);
  assert.notEqual(a, generateAdminPassword());
  assert.equal(adminPasswordOf({ password: b64(a) }), a);
  assert.deepEqual(adminCredentials({ password: b64(a) }, { name: 'p', namespace: 'iot' }), {
    user: 'mqtt2pg_pgbouncer_admin',
    password: a,
  });
});

test('a Secret holding something else than a generated password is not used (a new one is generated)', () => {
  assert.equal(adminPasswordOf(undefined), undefined);
  assert.equal(adminPasswordOf({ password: b64('short') }), undefined);
  assert.equal(adminPasswordOf({ password: b64(`${'a'.repeat(32)}"\nadmin_users = x`) }), undefined);
  assert.throws(
    () => adminCredentials({}, { name: 'p', namespace: 'iot' }),
    /PgBouncer admin Secret p-pgbouncer-admin in namespace iot is missing/,
  );
});
