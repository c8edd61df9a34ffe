// Topic patterns compiled for the flush path (plant/{plant}/line/{line}, {id:uuid}, {rest+}): a topic is
// split once and its levels compared, no regular expression per message. Also MQTT topic filter matching,
// which decides the route of a message (worker/routing.ts). Pure.

import { type PatternLevel, parseTopicPattern } from '../api/topic-syntax.ts';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export type TopicMatch = { ok: true; captures: string[] } | { ok: false; detail: string };

export interface CompiledPattern {
  readonly pattern: string;
  /** Capture names in the order match() returns their values. */
  readonly names: string[];
  match(topic: string): TopicMatch;
}

export function compileTopicPattern(pattern: string): CompiledPattern {
  const levels: PatternLevel[] = parseTopicPattern(pattern);
  const names = levels.flatMap((l) => (l.kind === 'literal' ? [] : [l.name]));
  const last = levels[levels.length - 1];
  const rest = last?.kind === 'rest';
  const fixed = rest ? levels.length - 1 : levels.length;
  const shape = `topic must fit ${pattern}`;
  return {
    pattern,
    names,
    match(topic: string): TopicMatch {
      const parts = topic.split('/');
      // {rest+} takes zero or more levels, as # does in a filter: plant/a/{rest+} fits "plant/a" too.
      if (rest ? parts.length < fixed : parts.length !== fixed) return { ok: false, detail: shape };
      const captures: string[] = [];
      for (let i = 0; i < fixed; i++) {
        const l = levels[i] as PatternLevel;
        const part = parts[i] as string;
        if (l.kind === 'literal') {
          if (part !== l.text) return { ok: false, detail: shape };
        } else {
          if (l.kind === 'capture' && l.uuid && !UUID.test(part))
            return { ok: false, detail: `{${l.name}:uuid} must be a UUID (level ${i + 1} of ${pattern})` };
          captures.push(part);
        }
      }
      if (rest) captures.push(parts.slice(fixed).join('/'));
      return { ok: true, captures };
    },
  };
}

/** A topic filter split once; matches() follows MQTT 5 4.7 (+ one level, # the rest and the parent, $ topics). */
export interface CompiledFilter {
  readonly filter: string;
  matches(topic: string): boolean;
}

export function compileTopicFilter(filter: string): CompiledFilter {
  const levels = filter.split('/');
  const wildFirst = levels[0] === '+' || levels[0] === '#';
  return {
    filter,
    matches(topic: string): boolean {
      // A wildcard as first level never matches a topic starting with $ ($SYS/...).
      if (wildFirst && topic.startsWith('$')) return false;
      let start = 0;
      for (let i = 0; i < levels.length; i++) {
        const l = levels[i] as string;
        if (l === '#') return true;
        if (start > topic.length) return false;
        let end = topic.indexOf('/', start);
        if (end < 0) end = topic.length;
        if (l !== '+' && (end - start !== l.length || !topic.startsWith(l, start))) return false;
        start = end + 1;
      }
      return start > topic.length;
    },
  };
}
