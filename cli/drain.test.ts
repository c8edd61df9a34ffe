import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SECRETS_DIR } from '../api/contract.ts';
import { HelpRequested, UsageError } from './args.ts';
import { parseDrainArgs } from './drain.ts';

test('drain takes the pipeline, the WAL directory, a secrets dir and a timeout with units', () => {
  assert.deepEqual(parseDrainArgs(['-f', 'p.yaml', '--wal-dir', '/wal', '--secrets-dir', '/s', '--timeout', '1m30s']), {
    file: 'p.yaml',
    walDir: '/wal',
    secretsDir: '/s',
    timeoutMs: 90_000,
  });
  assert.deepEqual(parseDrainArgs(['-f', 'p.yaml', '--wal-dir', '/wal', '--name', 'b']), {
    file: 'p.yaml',
    name: 'b',
    walDir: '/wal',
    secretsDir: DEFAULT_SECRETS_DIR,
    timeoutMs: 300_000,
  });
});

test('drain refuses a command line it cannot run, saying what to pass', () => {
  assert.throws(
    () => parseDrainArgs(['--wal-dir', '/wal']),
    (e: Error) => e instanceof UsageError && /-f FILE/.test(e.message),
  );
  assert.throws(
    () => parseDrainArgs(['-f', 'p.yaml']),
    (e: Error) => e instanceof UsageError && /--wal-dir DIR/.test(e.message),
  );
  assert.throws(
    () => parseDrainArgs(['-f', 'p.yaml', '--wal-dir', '/w', '--timeout', '10']),
    (e: Error) => e instanceof UsageError && /--timeout: "10" is not a duration/.test(e.message),
  );
  assert.throws(
    () => parseDrainArgs(['-f', 'p.yaml', '--wal-dir', '/w', '--timeout', '0s']),
    (e: Error) => e instanceof UsageError && /longer than 0/.test(e.message),
  );
  assert.throws(() => parseDrainArgs(['--help']), HelpRequested);
});

test('drain in a Job: an empty volume may count as drained, and the summary goes to the termination log too', () => {
  assert.deepEqual(
    parseDrainArgs(['-f', 'p.yaml', '--wal-dir', '/wal', '--empty-ok', '--termination-log', '/dev/termination-log']),
    {
      file: 'p.yaml',
      walDir: '/wal',
      secretsDir: DEFAULT_SECRETS_DIR,
      timeoutMs: 300_000,
      emptyOk: true,
      terminationLog: '/dev/termination-log',
    },
  );
});
