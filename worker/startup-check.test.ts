import assert from 'node:assert/strict';
import { test } from 'node:test';
import { awaitPostgres, isConfigurationError, PostgresCheckError } from './startup-check.ts';

test('credentials, database name and rights are the configuration’s fault; an unreachable server is not', () => {
  const err = (code: string, message = '') => Object.assign(new Error(message), { code });
  assert.ok(isConfigurationError(err('28P01')));
  assert.ok(isConfigurationError(err('3D000')));
  assert.ok(isConfigurationError(err('42501')));
  assert.ok(isConfigurationError(err('08P01', 'password authentication failed for user "x"')));
  assert.ok(!isConfigurationError(err('08P01', 'server login has been failing, try again later (server_login_retry)')));
  assert.ok(!isConfigurationError(err('57P03', 'the database system is starting up')));
  assert.ok(!isConfigurationError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
});

test('the background check waits through transient failures and stops at a configuration error', async () => {
  const reasons: string[] = [];
  let calls = 0;
  const o = {
    signal: new AbortController().signal,
    onWaiting: (r: string) => reasons.push(r),
    initialBackoffMs: 1,
    maxBackoffMs: 2,
  };
  await awaitPostgres(async () => {
    if (++calls < 3) throw new PostgresCheckError(`down ${calls}`, true);
  }, o);
  assert.equal(calls, 3);
  assert.deepEqual(reasons, ['down 1', 'down 2']);
  await assert.rejects(
    awaitPostgres(async () => {
      throw new PostgresCheckError('wrong password', false);
    }, o),
    /wrong password/,
  );
});
