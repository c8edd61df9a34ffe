// Checks of spec.routes the schema cannot make: across routes (names, tables, overlapping filters), and
// between a route's fields (a column's capture must be in the pattern; the pattern must fit the filter).
// load-pipeline.ts reports them with the schema's problems, so `mqtt2pg validate` and the operator see them.

import { captureNames, filtersOverlap, parseTopicPattern, patternAsFilter } from './topic-syntax.ts';
import type { IngestPipelineSpec } from './types.ts';

/** Columns every route table has besides the route's own (worker/route-ddl.ts). */
export const RESERVED_COLUMNS = ['id', 'ingested_at'];

type Found = Array<{ path: string; message: string }>;

export function routeProblems(spec: IngestPipelineSpec): Found {
  const routes = spec.routes;
  if (!routes) return [];
  const out: Found = [];
  if (spec.source.topicFilter !== undefined) {
    out.push({
      path: 'spec.source.topicFilter',
      message: 'is not used with spec.routes (each route subscribes to its own topicFilter); remove it',
    });
  }
  const unparseable = spec.sink.unparseableTable ?? 'telemetry_unparseable';
  routes.forEach((r, i) => {
    const at = `spec.routes[${i}]`;
    const earlier = routes.slice(0, i);
    if (earlier.some((e) => e.name === r.name))
      out.push({ path: `${at}.name`, message: `route name "${r.name}" is used twice; give each route its own` });
    const sameTable = earlier.find((e) => e.table === r.table);
    if (sameTable)
      out.push({
        path: `${at}.table`,
        message: `table "${r.table}" is already written by route "${sameTable.name}"; give each route its own table (or widen one route's filter and pattern)`,
      });
    if (r.table === unparseable)
      out.push({ path: `${at}.table`, message: `is sink.unparseableTable ("${unparseable}"); choose another table` });
    const overlapping = earlier.find((e) => filtersOverlap(e.topicFilter, r.topicFilter));
    if (overlapping)
      out.push({
        path: `${at}.topicFilter`,
        message: `"${r.topicFilter}" and route "${overlapping.name}"'s "${overlapping.topicFilter}" can both match one topic, which the broker would then deliver once per subscription; make the filters disjoint (e.g. a distinct literal level)`,
      });
    const levels = parseTopicPattern(r.topicPattern);
    const captures = captureNames(levels);
    const repeated = captures.find((c, k) => captures.indexOf(c) !== k);
    if (repeated)
      out.push({ path: `${at}.topicPattern`, message: `captures {${repeated}} twice; give each capture its own name` });
    if (!filtersOverlap(patternAsFilter(levels), r.topicFilter))
      out.push({
        path: `${at}.topicPattern`,
        message: `no topic that topicFilter "${r.topicFilter}" brings can fit "${r.topicPattern}": every message would go to the unparseable table; make the pattern's levels follow the filter's`,
      });
    r.columns.forEach((c, k) => {
      const col = `${at}.columns[${k}]`;
      if (r.columns.slice(0, k).some((d) => d.name === c.name))
        out.push({ path: `${col}.name`, message: `column "${c.name}" is declared twice; keep one` });
      if (RESERVED_COLUMNS.includes(c.name))
        out.push({
          path: `${col}.name`,
          message: `"${c.name}" is a column every route table has (${RESERVED_COLUMNS.join(', ')}); name this one differently`,
        });
      const capture = /^topic\.(.+)$/.exec(c.from)?.[1];
      if (capture !== undefined && !captures.includes(capture))
        out.push({
          path: `${col}.from`,
          message: `topicPattern "${r.topicPattern}" has no capture {${capture}}${captures.length ? ` (it has ${captures.map((x) => `{${x}}`).join(', ')})` : ''}; add it to the pattern or take another source`,
        });
    });
  });
  return out;
}
