// Which route a message belongs to, and the row it becomes. A pipeline without spec.routes keeps the device
// contract's specialized path (rows.ts toRow: the flusher's CPU is mostly there). With routes, the first
// route whose topic filter matches the topic takes the message; route-checks.ts refuses overlapping filters,
// so at most one can. Matching here, rather than by MQTT 5 subscription identifiers, keeps the WAL record
// unchanged, works with MQTT 3.1.1 brokers, and routes the messages already in a WAL or a spill the same way
// (docs/routes.md "How a message finds its route"). Pure.

import type { ResolvedRoute } from '../api/routes.ts';
import type { InboundMessage } from './message.ts';
import type { PayloadLimits } from './payload-limits.ts';
import { compileRoute } from './route-rows.ts';
import { type PayloadFormat, type Row, toRow } from './rows.ts';
import { compileTopicFilter } from './topic-pattern.ts';

export type RowBuilder = (message: InboundMessage) => Row;

export function rowBuilder(routes: ResolvedRoute[], payloadFormat: PayloadFormat, limits: PayloadLimits): RowBuilder {
  if (routes.length === 1 && routes[0]?.builtIn) return (m) => toRow(m, payloadFormat, limits);
  const compiled = routes.map((r) => ({ filter: compileTopicFilter(r.topicFilter), route: compileRoute(r, limits) }));
  const filters = routes.map((r) => r.topicFilter).join(', ');
  return (message) => {
    for (const c of compiled) if (c.filter.matches(message.topic)) return c.route.toRow(message);
    // A message subscribed for a route since removed, still in the WAL (or a spill) when the worker restarted.
    return { kind: 'unparseable', message, reason: 'no_route', detail: `no route's topicFilter matches (${filters})` };
  };
}
