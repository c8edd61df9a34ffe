// Static checks of the Dockerfile, run by scripts/check-packaging.sh (so by `make lint`) without services:
// its promises (non-root, mqtt2pg entrypoint, no secrets) and that it builds from exactly what its context
// holds.
// Usage: node --test --test-reporter=spec test/packaging/dockerfile.check.ts

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT } from '../lib/env.ts';
import { contextFiles, dockerignore, type Instruction, parseDockerfile, read, type Stage } from './dockerfile.ts';

describe('Dockerfile', () => {
  const stages = parseDockerfile(read('Dockerfile'));
  const runtime = stages.at(-1) as Stage;
  const build = stages.find((s) => s.name === 'build');
  const all = stages.flatMap((s) => s.instructions);
  const args = Object.fromEntries(
    read('Dockerfile')
      .split('\n')
      .map((l) => /^ARG\s+([A-Z_]+)=(\S+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]]),
  );
  const image = (ref: string) => ref.replace(/\$\{(\w+)\}/g, (_, k: string) => args[k] ?? '');

  test('is multi-stage: a build stage compiles, a separate runtime stage runs', () => {
    assert.ok(build, 'a stage named "build" (FROM ... AS build)');
    assert.ok(stages.length >= 2 && runtime !== build, 'the last stage is the runtime stage, not the build stage');
    const runs = build.instructions.filter((i) => i.cmd === 'RUN').map((i) => i.args);
    assert.ok(
      runs.some((r) => /\bnpm ci\b/.test(r)),
      'the build stage installs from the lockfile with npm ci',
    );
    assert.ok(
      runs.some((r) => /\bnpm run build\b/.test(r)),
      'the build stage compiles with npm run build (dist/cli/main.js)',
    );
    assert.ok(
      runtime.instructions.some((i) => i.cmd === 'COPY' && /--from=build\b.*\/dist\b/.test(i.args)),
      'the runtime copies dist/ from the build stage',
    );
  });

  test('runtime base is a small Node 24 image', () => {
    const base = image(runtime.from);
    assert.match(
      base,
      /^(node:24[.\d]*-(bookworm-|trixie-)?slim|gcr\.io\/distroless\/nodejs24-debian\d+(:\S+)?)(@sha256:[0-9a-f]{64})?$/,
    );
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    assert.equal(engines, '>=24', 'package.json engines and the image base must agree on the Node major');
  });

  test('runs as the non-root uid 65532 that the pod specs set', () => {
    const users = runtime.instructions.filter((i) => i.cmd === 'USER');
    assert.ok(users.length > 0, 'the runtime stage sets USER');
    const last = (users.at(-1) as Instruction).args;
    assert.match(last, /^65532(:65532)?$/, 'numeric uid (runAsNonRoot can only verify a numeric USER)');
    const userLine = (users.at(-1) as Instruction).line;
    const after = runtime.instructions.filter((i) => i.line > userLine && i.cmd === 'USER');
    assert.equal(after.length, 0);
  });

  test('entrypoint is the mqtt2pg CLI in exec form', () => {
    const ep = runtime.instructions.filter((i) => i.cmd === 'ENTRYPOINT').at(-1);
    assert.ok(ep, 'ENTRYPOINT is set');
    assert.deepEqual(JSON.parse(ep.args), ['mqtt2pg'], 'exec form, so SIGTERM reaches Node (no shell in between)');
    assert.ok(
      runtime.instructions.some(
        (i) => i.cmd === 'RUN' && /ln -s \S*dist\/cli\/main\.js \/usr\/local\/bin\/mqtt2pg/.test(i.args),
      ),
      'mqtt2pg is on PATH: the operator renders `command: [mqtt2pg, worker, ...]`',
    );
  });

  test('holds no secrets and fetches nothing unpinned', () => {
    for (const i of all) {
      if (i.cmd === 'ENV' || i.cmd === 'ARG') {
        assert.doesNotMatch(
          i.args,
          /(PASSWORD|SECRET|TOKEN|ACCESS_KEY|PRIVATE|CREDENTIAL)/i,
          `line ${i.line}: ${i.cmd} ${i.args}`,
        );
      }
      if (i.cmd === 'ADD') assert.fail(`line ${i.line}: use COPY (ADD fetches URLs and unpacks archives)`);
      if (i.cmd === 'COPY') {
        assert.doesNotMatch(i.args, /(\.test-env|\.env\b|kubeconfig|\.pem|\.key|id_rsa|\.npmrc)/, `line ${i.line}`);
        assert.doesNotMatch(i.args, /^(--\S+\s+)*\.\s/, `line ${i.line}: COPY . copies the whole context`);
      }
    }
  });

  test('the build stage copies every source folder tsconfig.build.json compiles, and .dockerignore lets them in', () => {
    const tsconfig = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    const folders = tsconfig.include.map((g) => g.split('/')[0] as string);
    const copied = (build as Stage).instructions
      .filter((i) => i.cmd === 'COPY' && !i.args.includes('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
      .map((s) => s.replace(/\/$/, ''));
    const { includes } = dockerignore();
    for (const f of [...folders, 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      assert.ok(copied.includes(f), `the build stage must COPY ${f} (tsconfig.build.json compiles it)`);
      assert.ok(includes.includes(f), `.dockerignore must re-include !${f}`);
    }
  });

  test('the context holds no local state or secrets', () => {
    const files = contextFiles();
    assert.ok(files.includes('cli/main.ts'));
    for (const f of files) {
      assert.doesNotMatch(f, /^(\.test-env|node_modules|dist|\.git)\//, f);
      assert.doesNotMatch(f, /\.test\.ts$/, `${f}: tests stay out of the image`);
    }
  });

  const work = mkdtempSync(join(tmpdir(), 'mqtt2pg-image-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  test('what the build stage copies compiles, and the CLI starts the way the image starts it', () => {
    // The Dockerfile's build, minus Docker: the context's files and `tsc -p tsconfig.build.json`. Catches a source that imports a file the image
    // never gets (tests, test/) long before a docker build would.
    for (const f of contextFiles()) {
      mkdirSync(join(work, f, '..'), { recursive: true });
      cpSync(join(REPO_ROOT, f), join(work, f));
    }
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
    const tsc = spawnSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], {
      cwd: work,
      encoding: 'utf8',
    });
    assert.equal(
      tsc.status,
      0,
      `tsc -p tsconfig.build.json in the image's build context failed:\n${tsc.stdout}${tsc.stderr}`,
    );
    assert.ok(statSync(join(work, 'dist/cli/main.js')).isFile(), 'dist/cli/main.js (the bin of package.json)');
    const version = spawnSync(process.execPath, [join(work, 'dist/cli/main.js'), 'version'], {
      cwd: tmpdir(),
      encoding: 'utf8',
    });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), (JSON.parse(read('package.json')) as { version: string }).version);
    for (const cmd of ['operator', 'worker', 'loadgen']) {
      const help = spawnSync(process.execPath, [join(work, 'dist/cli/main.js'), cmd, '--help'], { encoding: 'utf8' });
      assert.equal(help.status, 0, `mqtt2pg ${cmd} --help: ${help.stderr}`);
    }
  });
});
