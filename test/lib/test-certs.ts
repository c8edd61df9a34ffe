// Certificates for TLS tests, made with openssl in a new directory: a CA, a server certificate it signs for
// 127.0.0.1, the DNS name SERVER_NAME and any names a test adds (not for "localhost": dialling that name is
// the wrong host name), and a second, unrelated CA (the wrong CA). test/lib/tls-endpoints.ts serves them.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The DNS name the server certificate carries besides 127.0.0.1. */
export const SERVER_NAME = 'mqtt2pg-tls.test';

export interface TestCerts {
  dir: string;
  /** PEM of the CA that signed the server certificate. */
  ca: string;
  /** PEM of a CA that signed nothing the endpoints serve. */
  wrongCa: string;
  serverCert: string;
  serverKey: string;
  certFile: string;
  keyFile: string;
  caFile: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function selfSignedCa(dir: string, name: string): void {
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    `${name}.key`,
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=mqtt2pg test ${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    `${name}.crt`,
  ]);
}

/**
 * A CA, a server certificate it signs (127.0.0.1, SERVER_NAME and `dnsNames`), and an unrelated CA, in a new
 * directory.
 */
export function makeTestCerts(dnsNames: string[] = []): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-tls-'));
  chmodSync(dir, 0o755);
  selfSignedCa(dir, 'ca');
  selfSignedCa(dir, 'wrong-ca');
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key']);
  openssl(dir, ['req', '-new', '-key', 'server.key', '-subj', `/CN=${SERVER_NAME}`, '-out', 'server.csr']);
  writeFileSync(
    join(dir, 'server.ext'),
    `subjectAltName=${['IP:127.0.0.1', ...[SERVER_NAME, ...dnsNames].map((n) => `DNS:${n}`)].join(',')}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    'server.ext',
    '-out',
    'server.crt',
  ]);
  for (const f of ['ca.crt', 'wrong-ca.crt', 'server.crt', 'server.key']) chmodSync(join(dir, f), 0o644);
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return {
    dir,
    ca: read('ca.crt'),
    wrongCa: read('wrong-ca.crt'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
    caFile: join(dir, 'ca.crt'),
  };
}
