// Parsing of the unit-bearing strings of the API (durations, byte quantities). The schema's patterns
// already guarantee the shape; these turn them into numbers.

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "1h30m" → 5_400_000. Throws on anything the schema pattern would not accept. */
export function parseDurationMs(text: string): number {
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) throw new Error(`"${text}" is not a duration; write it like "250ms", "15s", "2m" or "1h30m"`);
    total += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] as number);
    pos = re.lastIndex;
  }
  if (text.length === 0) throw new Error('an empty string is not a duration');
  return Math.round(total);
}

const BYTE_SUFFIXES: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};

/** "512Mi" → 536_870_912. */
export function parseBytes(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a byte quantity; write it like "512Mi", "2Gi" or "1000000"`);
  return Math.round(Number(m[1]) * (BYTE_SUFFIXES[m[2] ?? ''] as number));
}

/** 536_870_912 → "512Mi": the inverse for messages and rendered objects. */
export function formatBytes(n: number): string {
  for (const s of ['Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const unit = BYTE_SUFFIXES[s] as number;
    if (n >= unit && n % unit === 0) return `${n / unit}${s}`;
  }
  return String(n);
}
