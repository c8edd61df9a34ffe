// The V8 heap of a worker pod, sized from its container's memory limit. V8 grows its heap with the
// allocation rate, not with what is live: a worker at full rate reached ~390 MiB RSS with V8's defaults,
// most of it a young generation sized for a machine, not a pod (measured in docs/benchmarks.md). The flags go
// in NODE_OPTIONS of the rendered container, so `mqtt2pg render` shows them and a user's own spec.resources
// moves them; the rest of the limit is left for what lives outside the heap (LevelDB's write buffers and
// block cache, socket and COPY buffers, code). MALLOC_ARENA_MAX bounds the native side's free lists.

import { parseBytes } from '../../api/units.ts';

/** Memory a worker holds outside V8's old generation: young generation, LevelDB, buffers, code. */
export const WORKER_NON_HEAP_MIB = 112;
/** Share of the rest given to the old generation: V8 needs headroom between a GC and the next. */
const HEAP_SHARE = 0.6;
const MIN_HEAP_MIB = 64;
/**
 * Each of the young generation's semi-spaces. V8's default on a large machine (tens of MiB) held ~130 MiB of
 * RSS at full rate; 16 MiB took 8% off the CPU per message against 8 MiB, for 13 MiB of RSS, and 32 MiB was
 * no better (docs/benchmarks.md).
 */
export const WORKER_SEMI_SPACE_MIB = 16;

/** --max-old-space-size for a container memory limit (a Kubernetes quantity), or undefined without one. */
export function heapMiBForLimit(limit: string | number | undefined): number | undefined {
  if (limit === undefined || limit === '') return undefined;
  let bytes: number;
  try {
    bytes = typeof limit === 'number' ? limit : parseBytes(limit);
  } catch {
    return undefined; // A quantity parseBytes does not know (e.g. "1e9"): leave V8's own sizing.
  }
  const mib = bytes / 2 ** 20;
  return Math.max(MIN_HEAP_MIB, Math.floor((mib - WORKER_NON_HEAP_MIB) * HEAP_SHARE));
}

/** NODE_OPTIONS of a worker container with this memory limit ("" without a limit). */
export function nodeOptionsForLimit(limit: string | number | undefined): string {
  const heap = heapMiBForLimit(limit);
  return heap === undefined ? '' : `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB} --max-old-space-size=${heap}`;
}

/**
 * glibc's malloc arenas: by default up to 8 per core, one per thread that allocates (libuv's pool reading
 * LevelDB, LevelDB's compaction, V8's GC helpers), each keeping freed memory of its own. Two cut the worker's
 * RSS during a 1M-message drain by ~40 MiB with no measurable CPU cost (docs/benchmarks.md). Ignored by other
 * allocators (musl), so harmless in any image.
 */
export const WORKER_MALLOC_ARENA_MAX = '2';

/** The container's memory environment: glibc's arenas always, NODE_OPTIONS when it has a memory limit. */
export function memoryEnv(resources: {
  limits?: Record<string, string | number>;
}): Array<{ name: string; value: string }> {
  const value = nodeOptionsForLimit(resources.limits?.memory);
  return [
    { name: 'MALLOC_ARENA_MAX', value: WORKER_MALLOC_ARENA_MAX },
    ...(value ? [{ name: 'NODE_OPTIONS', value }] : []),
  ];
}

/** The same as a process environment (the bench runs workers as a pod with these resources would). */
export function memoryEnvRecord(resources: { limits?: Record<string, string | number> }): Record<string, string> {
  return Object.fromEntries(memoryEnv(resources).map((e) => [e.name, e.value]));
}
