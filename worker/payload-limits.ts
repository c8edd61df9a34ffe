// The checks of spec.limits that run before COPY, so a message PostgreSQL would refuse (or choke on) costs no
// split and never blocks a flusher: it becomes an unparseable row whose reason is one of LimitReason (stable
// strings: tests and dashboards match on them) and whose detail names the limit and the value. Pure.

import { formatBytes } from '../api/units.ts';

export type LimitReason = 'payload_too_large' | 'json_too_deep' | 'json_unsupported_escape';

export interface PayloadLimits {
  maxPayloadSizeBytes: number;
  maxJsonDepth: number;
}

export interface LimitViolation {
  reason: LimitReason;
  detail: string;
}

export function checkPayloadSize(bytes: number, limits: PayloadLimits): LimitViolation | undefined {
  if (bytes <= limits.maxPayloadSizeBytes) return undefined;
  return {
    reason: 'payload_too_large',
    detail: `payload is ${bytes} bytes, over spec.limits.maxPayloadSize ${formatBytes(limits.maxPayloadSizeBytes)}`,
  };
}

const QUOTE = 0x22;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const LOWER_U = 0x75;

const isHigh = (u: number) => u >= 0xd800 && u <= 0xdbff;
const isLow = (u: number) => u >= 0xdc00 && u <= 0xdfff;

/** The \uXXXX escape starting at i (the backslash), as a code unit; NaN when it is not one. */
function escapedUnit(text: string, i: number): number {
  if (text.charCodeAt(i + 1) !== LOWER_U) return Number.NaN;
  return Number.parseInt(text.slice(i + 2, i + 6), 16);
}

const hex4 = (u: number) => `\\u${u.toString(16).padStart(4, '0')}`;

/**
 * What PostgreSQL's jsonb refuses in text JSON.parse accepted: nesting deeper than the limit (jsonb fails
 * with 54001 at its stack depth), and \u0000 or a lone surrogate escape (22P05 / 22P02). Expects valid JSON:
 * one pass over the characters, strings skipped but for their escapes.
 */
export function checkJson(text: string, limits: PayloadLimits): LimitViolation | undefined {
  let depth = 0;
  let deepest = 0;
  let badEscape: LimitViolation | undefined;
  let nextBackslash = text.indexOf('\\');
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > deepest) deepest = depth;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    } else if (c === QUOTE) {
      // Skip to the closing quote with native searches: string contents are most of a payload's characters.
      // Both positions are searched again only once passed, so the whole scan stays linear.
      let quote = text.indexOf('"', ++i);
      for (;;) {
        if (quote < 0) return badEscape; // unreachable for valid JSON
        if (nextBackslash >= 0 && nextBackslash < i) nextBackslash = text.indexOf('\\', i);
        if (nextBackslash < 0 || nextBackslash > quote) {
          i = quote;
          break;
        }
        const at = nextBackslash;
        const unit = escapedUnit(text, at);
        if (Number.isNaN(unit)) {
          i = at + 2; // a one-character escape: \" \\ \/ \b \f \n \r \t
        } else {
          if (badEscape === undefined) badEscape = unsupportedEscape(text, at, unit);
          // A valid pair's low half is consumed with its high half.
          i = at + (isHigh(unit) && isLow(escapedUnit(text, at + 6)) ? 12 : 6);
        }
        if (quote < i) quote = text.indexOf('"', i);
      }
    }
  }
  if (deepest > limits.maxJsonDepth) {
    return {
      reason: 'json_too_deep',
      detail: `JSON nests ${deepest} levels deep, over spec.limits.maxJsonDepth ${limits.maxJsonDepth}`,
    };
  }
  return badEscape;
}

function unsupportedEscape(text: string, i: number, unit: number): LimitViolation | undefined {
  if (unit === 0) {
    return {
      reason: 'json_unsupported_escape',
      detail: 'JSON holds the escape \\u0000, which PostgreSQL jsonb cannot store',
    };
  }
  const lone = isHigh(unit) ? !isLow(escapedUnit(text, i + 6)) : isLow(unit);
  if (!lone) return undefined;
  return {
    reason: 'json_unsupported_escape',
    detail: `JSON holds the lone surrogate ${hex4(unit)} (half of a UTF-16 pair), which PostgreSQL jsonb cannot store`,
  };
}
