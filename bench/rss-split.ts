// A worker's RSS split into anonymous memory and mapped files, highest per phase. LevelDB reads its tables
// through mmap and the code is mapped too: those pages count in RSS, although the kernel drops them under
// pressure before it would kill a pod, so the bench reports the anonymous part beside the total.

import { mib, procStats } from './proc-stats.ts';

export interface RssSplit {
  anonMiB: number;
  fileMiB: number;
}

export class RssSplitSampler {
  phase: string;
  readonly peaks: Record<string, RssSplit> = {};
  private readonly timer: NodeJS.Timeout;

  constructor(pid: number, phase: string, everyMs = 250) {
    this.phase = phase;
    this.timer = setInterval(() => {
      try {
        const st = procStats(pid);
        const cur = this.peaks[this.phase] ?? { anonMiB: 0, fileMiB: 0 };
        this.peaks[this.phase] = {
          anonMiB: Math.max(cur.anonMiB, mib(st.rssAnonBytes)),
          fileMiB: Math.max(cur.fileMiB, mib(st.rssFileBytes)),
        };
      } catch {} // the process has exited: the peaks so far stand
    }, everyMs);
  }

  stop(): Record<string, RssSplit> {
    clearInterval(this.timer);
    return this.peaks;
  }
}
