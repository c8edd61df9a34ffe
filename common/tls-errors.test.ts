import assert from 'node:assert/strict';
import { test } from 'node:test';
import { certificateProblem, isCertificateRefusal } from './tls-errors.ts';

const settings = { ca: 'spec.x.caSecretRef', name: 'spec.x.host' };
const err = (code: string, message = code) => Object.assign(new Error(message), { code });

test('a refused certificate names the setting to fix; other errors are left alone', () => {
  assert.match(
    certificateProblem(err('SELF_SIGNED_CERT_IN_CHAIN'), settings) ?? '',
    /put the CA .* in spec\.x\.caSecretRef/,
  );
  assert.match(certificateProblem(err('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), settings) ?? '', /not signed by a CA/);
  assert.match(
    certificateProblem(err('ERR_TLS_CERT_ALTNAME_INVALID', "Host: a. is not in the cert's altnames"), settings) ?? '',
    /does not name the host dialled \(Host: a\. .*\(spec\.x\.host\)/,
  );
  assert.match(certificateProblem(err('CERT_HAS_EXPIRED'), settings) ?? '', /out of date .*renew it/);
  assert.equal(certificateProblem(err('ECONNREFUSED'), settings), undefined);
  assert.equal(certificateProblem(new Error('x'), settings), undefined);
  assert.equal(isCertificateRefusal(err('DEPTH_ZERO_SELF_SIGNED_CERT')), true);
  assert.equal(isCertificateRefusal(err('ECONNRESET')), false);
});
