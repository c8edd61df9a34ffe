// Percentiles from Prometheus histograms, as the benchmark reads them from /metrics.

/** Quantile of the difference of two cumulative histogram snapshots, interpolated within a bucket. */
export function quantile(from: Map<number, number>, to: Map<number, number>, q: number): number | null {
  const les = [...to.keys()].sort((a, b) => a - b);
  const total = (to.get(Number.POSITIVE_INFINITY) ?? 0) - (from.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return null;
  const want = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const le of les) {
    const c = (to.get(le) ?? 0) - (from.get(le) ?? 0);
    if (c >= want) {
      if (!Number.isFinite(le)) return prevLe;
      const inBucket = c - prevCount;
      return prevLe + (inBucket > 0 ? ((want - prevCount) / inBucket) * (le - prevLe) : 0);
    }
    prevLe = le;
    prevCount = c;
  }
  return null;
}
