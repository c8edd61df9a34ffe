import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secretReferences } from '../api/secret-refs.ts';
import { pipeline } from '../test/lib/pipelines.ts';
import { credentialsOf, referencedSecrets, secretProblem } from './secrets.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('a missing Secret is named with the field that references it and the command that fixes it', () => {
  const { r } = pipeline();
  const problem = secretProblem(
    'iot',
    secretReferences(r),
    new Map([['mqtt-creds', { username: b64('u'), password: b64('p') }]]),
  );
  assert.equal(problem?.reason, 'SecretNotFound');
  assert.match(
    problem?.message ?? '',
    /spec\.sink\.postgres\.credentialsSecretRef: Secret "pg-creds" not found in namespace iot/,
  );
  assert.match(
    problem?.message ?? '',
    /kubectl create secret generic pg-creds -n iot --from-literal=username=\.\.\. --from-literal=password=\.\.\./,
  );
});

test('a missing key names the key and the keys the Secret has', () => {
  const { r } = pipeline();
  const problem = secretProblem(
    'iot',
    secretReferences(r),
    new Map<string, Record<string, string>>([
      ['mqtt-creds', { username: b64('u'), password: b64('p') }],
      ['pg-creds', { user: b64('u'), password: b64('p') }],
    ]),
  );
  assert.equal(problem?.reason, 'SecretKeyMissing');
  assert.match(problem?.message ?? '', /Secret "pg-creds" has no key "username" \(it has: password, user\)/);
});

test('PgBouncer credentials come from the referenced keys, without a trailing newline', () => {
  const { r } = pipeline({
    sink: { postgres: { host: 'pg', database: 'd', credentialsSecretRef: { name: 'pg-creds', usernameKey: 'user' } } },
  });
  const c = credentialsOf(r, new Map([['pg-creds', { user: b64('ingest\n'), password: b64('pw') }]]));
  assert.deepEqual(c, { username: 'ingest', password: 'pw' });
});

test('each referenced Secret is read once, whatever the number of its keys', () => {
  const { r } = pipeline();
  assert.deepEqual(referencedSecrets(r).sort(), ['mqtt-creds', 'pg-creds']);
});

test('with every Secret and key present there is no problem', () => {
  const { r } = pipeline();
  const all = new Map([
    ['mqtt-creds', { username: b64('u'), password: b64('p') }],
    ['pg-creds', { username: b64('u'), password: b64('p') }],
  ]);
  assert.equal(secretProblem('iot', secretReferences(r), all), undefined);
});
