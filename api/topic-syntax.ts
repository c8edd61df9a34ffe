// The syntax of topic filters and topic patterns, parsed into levels: what validation needs (captures, two
// filters that can bring the same topic) and what worker/topic-pattern.ts compiles for the flush path.

export type PatternLevel =
  | { kind: 'literal'; text: string }
  | { kind: 'capture'; name: string; uuid: boolean }
  /** {name+}: the rest of the topic, zero or more levels (like # in a filter). */
  | { kind: 'rest'; name: string };

const CAPTURE = /^\{([a-z_][a-z0-9_]*)(:uuid|\+)?\}$/;

/** The levels of a topic pattern the schema accepted (TOPIC_PATTERN_PATTERN). */
export function parseTopicPattern(pattern: string): PatternLevel[] {
  return pattern.split('/').map((level) => {
    const m = CAPTURE.exec(level);
    if (!m) return { kind: 'literal', text: level };
    const name = m[1] as string;
    if (m[2] === '+') return { kind: 'rest', name };
    return { kind: 'capture', name, uuid: m[2] === ':uuid' };
  });
}

export const captureNames = (levels: PatternLevel[]): string[] =>
  levels.flatMap((l) => (l.kind === 'literal' ? [] : [l.name]));

/** The pattern as a topic filter: the topics it can fit ({x} → +, {x+} → #). */
export const patternAsFilter = (levels: PatternLevel[]): string =>
  levels.map((l) => (l.kind === 'literal' ? l.text : l.kind === 'rest' ? '#' : '+')).join('/');

/**
 * Whether some topic matches both filters. # matches the parent level too (MQTT 3.1.1/5 4.7.1.2), and no
 * wildcard in the first level matches a topic starting with $ (4.7.2): those are left out, as no route
 * filter should start with $.
 */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    if (p === '#' || q === '#') return true;
    if (p === undefined || q === undefined) return p === q;
    if (p !== '+' && q !== '+' && p !== q) return false;
  }
}
