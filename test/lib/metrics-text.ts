// The Prometheus text of a worker's /metrics as series → value, keyed the way the suites name them:
// `mqtt2pg_acked_total`, `mqtt2pg_received_total{qos="1"}` (the pipeline label every series carries is
// dropped, so a key does not depend on the test pipeline's name).

export function seriesValues(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    const series = line
      .slice(0, i)
      .replace(/,?pipeline="[^"]*"/, '')
      .replace('{,', '{')
      .replace('{}', '');
    out.set(series, Number(line.slice(i + 1)));
  }
  return out;
}

/** The value of one series, keyed as seriesValues() keys it, or 0 when it is not exported (yet). */
export const metricValue = (text: string, series: string): number => seriesValues(text).get(series) ?? 0;
