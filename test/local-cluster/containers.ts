// Container processes: start one (with its log file and the restart back-off when it ends), stop one
// (SIGTERM to its process group, SIGKILL after the grace period). Every process is started with a
// parent-death signal, so a test runner that dies takes its pods with it.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import type { Cluster } from './context.ts';
import { containerEnv, type ProcessSpec, processSpec, terminationMessageFile } from './process-spec.ts';
import { type ContainerRun, logDir, pgbouncerDir, rootOf, type Sandbox } from './sandbox.ts';

/**
 * The kubelet's restart back-off (10 s doubling to 5 min) scaled down: 0, 1, 2, 4 … 20 s over consecutive
 * crashes, the count reset after a minute up. Returns the delay before the next start and the new count.
 */
/** Whether the kubelet starts a container again after it exited with `exitCode` (the pod's restartPolicy). */
export function restarts(restartPolicy: string | undefined, exitCode: number): boolean {
  if (restartPolicy === 'Never') return false;
  if (restartPolicy === 'OnFailure') return exitCode !== 0;
  return true;
}

/** The kubelet keeps at most 4 KiB of a termination message. */
const MESSAGE_MAX = 4096;

/**
 * What the kubelet reports as a terminated container's message: the file at terminationMessagePath, or with
 * FallbackToLogsOnError and an empty file after a failure, the end of its log.
 */
function terminationMessage(c: ContainerRun, file: string, exitCode: number): string | undefined {
  const text = existsSync(file) ? readFileSync(file).subarray(0, MESSAGE_MAX).toString('utf8') : '';
  if (text) return text;
  if (c.spec.terminationMessagePolicy === 'FallbackToLogsOnError' && exitCode !== 0) {
    return c.tail.slice(-80).join('\n').slice(-2048);
  }
  return undefined;
}

export function restartBackoff(crashes: number, ranMs: number): { delayMs: number; crashes: number } {
  const n = ranMs > 60_000 ? 0 : crashes;
  return { delayMs: n === 0 ? 0 : Math.min(20_000, 1000 * 2 ** (n - 1)), crashes: n + 1 };
}

/**
 * Starts the container's process; false when its config cannot be built (the container waits in
 * CreateContainerConfigError and is retried in 5 s). The caller starts the probes of a started process.
 */
export async function startContainer(cl: Cluster, sb: Sandbox, c: ContainerRun): Promise<boolean> {
  const root = rootOf(sb, c.spec.name);
  mkdirSync(root, { recursive: true });
  let argv: ProcessSpec;
  let env: Record<string, string>;
  try {
    argv = processSpec(cl, sb, c.spec, root);
    env = await containerEnv(cl, sb, c.spec, root);
  } catch (err) {
    c.waiting = { reason: 'CreateContainerConfigError', message: (err as Error).message };
    c.backoffUntil = Date.now() + 5000;
    cl.later(5000);
    return false;
  }
  if (c.starts > 0) c.restartCount++;
  c.starts++;
  c.epoch++;
  c.started = false;
  c.ready = false;
  c.waiting = undefined;
  const logFile = join(logDir(sb), `${c.spec.name}-${c.starts - 1}.log`);
  // The kubelet mounts an empty file at terminationMessagePath for every container instance.
  const messageFile = terminationMessageFile(c.spec, root);
  mkdirSync(dirname(messageFile), { recursive: true });
  writeFileSync(messageFile, '');
  c.log = createWriteStream(logFile, { flags: 'a' });
  // Parent-death signal: if the process running this runner dies, its pods die with it (no orphans).
  const pre = ['--pdeathsig', 'SIGKILL'];
  const ids = argv.asPostgres ? ['--reuid', 'postgres', '--regid', 'postgres', '--init-groups'] : [];
  const child = spawn('setpriv', [...pre, ...ids, '--', argv.file, ...argv.args], {
    cwd: argv.asPostgres ? pgbouncerDir(sb) : root,
    env,
    // Its own process group, so a kill reaches whatever the container's process started.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  c.child = child;
  c.startedAt = new Date();
  const onData = (b: Buffer) => {
    c.log?.write(b);
    const lines = b.toString('utf8').split('\n').filter(Boolean);
    c.tail.push(...lines);
    if (c.tail.length > 200) c.tail.splice(0, c.tail.length - 200);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  c.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      const finishedAt = new Date();
      const startedAt = c.startedAt ?? finishedAt;
      const exitCode = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
      const message = terminationMessage(c, messageFile, exitCode);
      c.last = {
        exitCode,
        ...(signal ? { signal } : {}),
        reason: exitCode === 0 ? 'Completed' : 'Error',
        ...(message !== undefined ? { message } : {}),
        startedAt,
        finishedAt,
      };
      c.child = undefined;
      c.started = false;
      c.ready = false;
      c.log?.end();
      if (!restarts(sb.pod.spec?.restartPolicy, exitCode)) {
        c.done = true;
        cl.log(`pod ${sb.name} container ${c.spec.name} exited (${signal ?? `code ${code}`}); not restarted`);
        resolve();
        cl.kick();
        return;
      }
      const backoff = restartBackoff(c.crashes, finishedAt.getTime() - startedAt.getTime());
      const delay = backoff.delayMs;
      c.crashes = backoff.crashes;
      c.backoffUntil = Date.now() + delay;
      if (delay > 0)
        c.waiting = { reason: 'CrashLoopBackOff', message: `back-off ${delay} ms restarting failed container` };
      cl.log(
        `pod ${sb.name} container ${c.spec.name} exited (${signal ?? `code ${code}`})${sb.terminating ? '' : `; restart in ${delay} ms`}`,
      );
      resolve();
      cl.kick();
    });
  });
  child.once('error', (err) => {
    c.waiting = { reason: 'RunContainerError', message: err.message };
  });
  cl.log(`pod ${sb.name} container ${c.spec.name} started, pid ${child.pid}: ${argv.file} ${argv.args.join(' ')}`);
  return true;
}

/** SIGTERM to the container's process group, SIGKILL after graceMs; resolves when it has exited. */
export async function killContainer(c: ContainerRun, graceMs: number) {
  const child = c.child;
  if (!child?.pid || !c.exited) return;
  const exited = c.exited;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {}
  const timer = setTimeout(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {}
  }, graceMs);
  await exited;
  clearTimeout(timer);
}
