// A process's memory and CPU as Linux reports them in /proc: what a container limit would see.

import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStats {
  rssBytes: number;
  /** RSS split: anonymous memory (heap, native allocations) and mapped files (LevelDB's tables, code). */
  rssAnonBytes: number;
  rssFileBytes: number;
  /** VmHWM: the highest RSS since the process started. */
  peakRssBytes: number;
  cpuSeconds: number;
}

const kib = (status: string, field: string) => {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return m ? Number(m[1]) * 1024 : Number.NaN;
};

export function procStats(pid: number): ProcStats {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th, in ticks.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return {
    rssBytes: kib(status, 'VmRSS'),
    rssAnonBytes: kib(status, 'RssAnon'),
    rssFileBytes: kib(status, 'RssFile'),
    peakRssBytes: kib(status, 'VmHWM'),
    cpuSeconds: ticks / 100,
  };
}

/** The pid of the first process whose command line contains `needle`, or undefined. */
export function findProcess(needle: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.split('/').at(-1)?.startsWith(needle)) return Number(d);
    } catch {}
  }
  return undefined;
}

export const mib = (bytes: number) => Math.round(bytes / 2 ** 20);

/**
 * CPU seconds of every process whose command (or retitled command, as PostgreSQL's backends have) starts
 * with `name`, with what their exited children used (cutime + cstime): a tier's whole CPU, for scale-out.
 */
export function tierCpuSeconds(name: string): number {
  let ticks = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0')[0] ?? '';
      if (!cmd.split('/').at(-1)?.startsWith(name)) continue;
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {}
  }
  return ticks / 100;
}
