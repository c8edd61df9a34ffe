// A seeded fuzz corpus of device traffic: ordinary messages and everything an untrusted device can send in a
// topic, a payload or MQTT 5 user properties (huge, deep, invalid UTF-8, NUL, lone surrogates, empty, binary).
// Every message carries its ledger id "<runId>-<n>/" inside its topic, the one field all three destinations
// keep (the telemetry table's path, the unparseable table's topic, a dead letter's topic); see
// test/lib/topic-ledger.ts. The same seed gives the same corpus, so a failure is reproduced with FUZZ_SEED.

/** Where a message should end up; `any` where the product is free to choose (or is changing its choice). */
export type Expect = 'table' | 'unparseable' | 'dlq' | 'any';

export interface Category {
  name: string;
  expect: Expect;
  /**
   * Not valid on the wire (MQTT 5 forbids it in a UTF-8 string): a conforming broker closes the connection, so
   * the publisher sends it on a connection of its own. If a broker takes it anyway it must still land once.
   */
  wireInvalid?: boolean;
  /** Relative frequency in the default mix. */
  weight: number;
}

export interface FuzzMessage {
  n: number;
  category: Category;
  topic: Buffer;
  payload: Buffer;
  userProperties: Array<[Buffer, Buffer]>;
}

// Sizes chosen to stay below the broker's and the worker's packet limits (see FuzzOptions.hugeBytes).
export const CATEGORIES: readonly Category[] = [
  // What devices normally send.
  { name: 'valid', expect: 'table', weight: 400 },
  { name: 'valid-unicode', expect: 'table', weight: 40 },
  { name: 'valid-scalar', expect: 'table', weight: 20 },
  { name: 'valid-nested', expect: 'table', weight: 15 },
  { name: 'props-many', expect: 'table', weight: 15 },
  { name: 'props-huge', expect: 'table', weight: 3 },
  { name: 'props-unicode', expect: 'table', weight: 15 },
  { name: 'props-empty', expect: 'table', weight: 10 },
  // Topics that break the device contract.
  { name: 'topic-bad-tenant', expect: 'unparseable', weight: 20 },
  { name: 'topic-bad-device', expect: 'unparseable', weight: 20 },
  { name: 'topic-shape', expect: 'unparseable', weight: 20 },
  { name: 'topic-empty-levels', expect: 'unparseable', weight: 10 },
  { name: 'topic-long', expect: 'unparseable', weight: 5 },
  { name: 'topic-huge', expect: 'unparseable', weight: 1 },
  // Payloads that break it.
  { name: 'payload-empty', expect: 'unparseable', weight: 15 },
  { name: 'payload-binary', expect: 'unparseable', weight: 20 },
  { name: 'payload-text', expect: 'unparseable', weight: 15 },
  { name: 'payload-truncated-json', expect: 'unparseable', weight: 15 },
  { name: 'payload-bom', expect: 'unparseable', weight: 5 },
  { name: 'payload-invalid-utf8', expect: 'unparseable', weight: 15 },
  { name: 'payload-raw-surrogate', expect: 'unparseable', weight: 10 },
  { name: 'payload-huge-binary', expect: 'unparseable', weight: 1 },
  // JSON.parse accepts these; PostgreSQL's jsonb does not (or a column of the table does not).
  { name: 'json-nul-escape', expect: 'any', weight: 10 },
  { name: 'json-lone-surrogate-escape', expect: 'any', weight: 10 },
  { name: 'json-number-overflow', expect: 'any', weight: 5 },
  { name: 'json-deep', expect: 'any', weight: 2 },
  { name: 'payload-huge-json', expect: 'any', weight: 1 },
  // Needs the table's poison column (poisonColumnSql below).
  { name: 'poison-range', expect: 'dlq', weight: 10 },
  // Not valid MQTT 5 UTF-8 strings: a conforming broker refuses them.
  { name: 'topic-invalid-utf8', expect: 'unparseable', weight: 3, wireInvalid: true },
  { name: 'topic-invalid-utf8-huge', expect: 'unparseable', weight: 1, wireInvalid: true },
  { name: 'topic-nul', expect: 'unparseable', weight: 2, wireInvalid: true },
  { name: 'topic-surrogate', expect: 'unparseable', weight: 2, wireInvalid: true },
  { name: 'props-invalid-utf8', expect: 'any', weight: 2, wireInvalid: true },
  { name: 'props-nul', expect: 'any', weight: 2, wireInvalid: true },
  { name: 'props-surrogate', expect: 'any', weight: 2, wireInvalid: true },
];

export const categoryByName = new Map(CATEGORIES.map((c) => [c.name, c]));

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same corpus on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzOptions {
  seed: number;
  runId: string;
  /** The pipeline's own topic level (sixth level of every topic: its subscription is `+/+/+/+/+/<path>/#`). */
  path: string;
  /** Category names to draw from (default: all); an unknown name throws with the list of known ones. */
  categories?: readonly string[];
  /** Weights per category name, overriding the default mix. */
  weights?: Record<string, number>;
  /**
   * Size of the huge payloads. Default 512 KiB: over a worker's default payload limit (256 KiB, so they land as
   * unparseable once it has one), under the Maximum Packet Size it advertises (1 MiB), past which a broker
   * drops a message after acknowledging it to the publisher.
   */
  hugeBytes?: number;
}

/**
 * The categories named in a comma-separated list such as FUZZ_CATEGORIES ("" or undefined: all); a leading
 * "-" excludes ("-json-deep,-payload-huge-json": all but those).
 */
export function selectCategories(spec: string | undefined): string[] {
  const all = CATEGORIES.map((c) => c.name);
  const items = (spec ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const i of items)
    if (!categoryByName.has(i.replace(/^-/, '')))
      throw new Error(`unknown fuzz category "${i}"; known: ${all.join(', ')}`);
  const include = items.filter((i) => !i.startsWith('-'));
  const exclude = new Set(items.filter((i) => i.startsWith('-')).map((i) => i.slice(1)));
  return (include.length > 0 ? include : all).filter((n) => !exclude.has(n));
}

/** The ledger id of message n as it appears in the topic (always followed by "/"). */
export const topicId = (runId: string, n: number) => `${runId}-${n}`;

export class FuzzCorpus {
  readonly seed: number;
  private readonly rnd: () => number;
  private readonly o: FuzzOptions;
  private readonly picks: Category[];
  private readonly cumulative: number[];
  private readonly total: number;
  private readonly devices: string[];

  constructor(o: FuzzOptions) {
    this.o = o;
    this.seed = o.seed;
    this.rnd = prng(o.seed);
    const names = o.categories ?? CATEGORIES.map((c) => c.name);
    if (names.length === 0) throw new Error('no fuzz categories selected');
    this.picks = names.map((n) => {
      const c = categoryByName.get(n);
      if (!c) throw new Error(`unknown fuzz category "${n}"`);
      return c;
    });
    let sum = 0;
    this.cumulative = this.picks.map((c) => (sum += o.weights?.[c.name] ?? c.weight));
    this.total = sum;
    this.devices = Array.from({ length: 20 }, () => this.uuid());
  }

  private int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  private uuid(): string {
    const h = () => this.int(16).toString(16);
    const s = (k: number) => Array.from({ length: k }, h).join('');
    return `${s(8)}-${s(4)}-4${s(3)}-a${s(3)}-${s(12)}`;
  }

  private bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  private ascii(n: number): string {
    const abc = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-';
    let s = '';
    for (let i = 0; i < n; i++) s += abc[this.int(abc.length)];
    return s;
  }

  /** Text beyond ASCII; `controls` adds characters a JSON string must escape (MQTT strings may not hold them). */
  private unicode(n: number, controls = false): string {
    const pool = ['é', 'ß', 'Ω', 'ж', '中', '文', '日本', '🚀', '🌡️', 'ﬁ', '\u200b', 'a', ' ', '"', '\\'];
    if (controls) pool.push('\n', '\t', '\r', '\u0001');
    let s = '';
    for (let i = 0; i < n; i++) s += this.pick(pool);
    return s;
  }

  private category(): Category {
    const r = this.rnd() * this.total;
    for (let i = 0; i < this.cumulative.length; i++)
      if (r < (this.cumulative[i] as number)) return this.picks[i] as Category;
    return this.picks[this.picks.length - 1] as Category;
  }

  /** A topic of the device contract carrying message n's id: t/<tenant>/d/<uuid>/evt/<path>/<id>/<rest>. */
  private topic(
    n: number,
    parts: { tenant?: string; t?: string; d?: string; device?: string; evt?: string; rest?: string } = {},
  ) {
    const tenant = parts.tenant ?? `tenant-${this.int(5)}`;
    const device = parts.device ?? this.pick(this.devices);
    const rest = parts.rest ?? this.pick(['temp', 'state', 'a/b/c', 'x']);
    return `${parts.t ?? 't'}/${tenant}/${parts.d ?? 'd'}/${device}/${parts.evt ?? 'evt'}/${this.o.path}/${topicId(this.o.runId, n)}/${rest}`;
  }

  private reading(n: number, extra: Record<string, unknown> = {}): string {
    return JSON.stringify({
      id: topicId(this.o.runId, n),
      run: this.o.runId,
      ts: 1_700_000_000_000 + n,
      v: this.int(10_000) / 100,
      ...extra,
    });
  }

  private props(): Array<[Buffer, Buffer]> {
    if (this.rnd() < 0.5) return [];
    return [[Buffer.from('fw'), Buffer.from(`1.${this.int(10)}.${this.int(10)}`)]];
  }

  private nested(depth: number): string {
    return `${'{"a":['.repeat(depth)}1${']}'.repeat(depth)}`;
  }

  /** Message n of the corpus; call with n = 0, 1, 2, … in order (the generator is one seeded stream). */
  next(n: number): FuzzMessage {
    const c = this.category();
    const huge = this.o.hugeBytes ?? 512 * 1024;
    const m: FuzzMessage = {
      n,
      category: c,
      topic: Buffer.alloc(0),
      payload: Buffer.alloc(0),
      userProperties: this.props(),
    };
    let topic = this.topic(n);
    let payload: string | Buffer = this.reading(n);
    switch (c.name) {
      case 'valid':
        break;
      case 'valid-unicode':
        topic = this.topic(n, { rest: `${this.unicode(1 + this.int(8))}/x` });
        payload = this.reading(n, { note: this.unicode(1 + this.int(40), true), [this.unicode(3, true)]: 'k' });
        break;
      case 'valid-scalar':
        payload = this.pick(['0', '-1.5e300', '"text"', 'true', 'null', '[]', '[1,"a",null]', '{}', ' {"a" : 1 } ']);
        break;
      case 'valid-nested':
        payload = this.reading(n, { deep: JSON.parse(this.nested(1 + this.int(20))) });
        break;
      case 'props-many':
        m.userProperties = Array.from({ length: 50 + this.int(250) }, (_, i): [Buffer, Buffer] => [
          Buffer.from(i % 7 === 0 ? 'dup' : `k${i}`),
          Buffer.from(this.ascii(this.int(20))),
        ]);
        break;
      case 'props-huge':
        m.userProperties = [[Buffer.from('blob'), Buffer.from(this.ascii(32_000 + this.int(30_000)))]];
        break;
      case 'props-unicode':
        m.userProperties = [[Buffer.from(this.unicode(1 + this.int(10))), Buffer.from(this.unicode(this.int(30)))]];
        break;
      case 'props-empty':
        m.userProperties = [
          [Buffer.alloc(0), Buffer.alloc(0)],
          [Buffer.from('k'), Buffer.alloc(0)],
        ];
        break;
      case 'topic-bad-tenant':
        topic = this.topic(n, { tenant: this.pick(['bad tenant', 'x'.repeat(65), 'tenänt', 'a.b', '']) });
        break;
      case 'topic-bad-device':
        topic = this.topic(n, {
          device: this.pick(['not-a-uuid', '', this.uuid().replaceAll('-', ''), `${this.uuid()}x`]),
        });
        break;
      case 'topic-shape':
        topic = this.pick([
          this.topic(n, { t: 'x' }),
          this.topic(n, { d: 'device' }),
          this.topic(n, { evt: 'evx' }),
          this.topic(n, { t: '' }),
        ]);
        break;
      case 'topic-empty-levels':
        topic = this.topic(n, { tenant: '', device: '', rest: this.pick(['//', 'x']) });
        break;
      case 'topic-long':
        topic = this.topic(n, { rest: this.pick(['y', 'ж', '中']).repeat(1000 + this.int(2000)) });
        break;
      case 'topic-huge':
        topic = this.topic(n, { rest: 'z'.repeat(60_000 + this.int(5_000)) });
        break;
      case 'payload-empty':
        payload = Buffer.alloc(0);
        break;
      case 'payload-binary':
        payload = this.bytes(1 + this.int(2000));
        break;
      case 'payload-text':
        payload = `${this.pick(['hello', 'NaN', 'undefined', "{'a':1}", '{a:1}'])} ${this.unicode(this.int(20))}`;
        break;
      case 'payload-truncated-json':
        payload = this.reading(n).slice(0, -1 - this.int(5));
        break;
      case 'payload-bom':
        payload = `\uFEFF${this.reading(n)}`;
        break;
      case 'payload-invalid-utf8':
        payload = Buffer.concat([
          Buffer.from('{"s":"'),
          Buffer.from(this.pick([[0xff], [0xc0, 0xaf], [0xe2, 0x82], [0x80]])),
          Buffer.from('"}'),
        ]);
        break;
      case 'payload-raw-surrogate':
        // U+D800 encoded as if it were a character (CESU-style): not UTF-8.
        payload = Buffer.concat([Buffer.from('{"s":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
        break;
      case 'payload-huge-binary':
        payload = this.bytes(huge);
        break;
      case 'json-nul-escape':
        payload = this.reading(n, { s: `a\u0000b` });
        break;
      case 'json-lone-surrogate-escape':
        payload = this.reading(n).replace(/}$/, ',"s":"\\ud800"}');
        break;
      case 'json-number-overflow':
        payload = this.reading(n).replace(/}$/, ',"big":1e999999}');
        break;
      case 'json-deep':
        payload = this.nested(20_000 + this.int(20_000));
        break;
      case 'payload-huge-json':
        payload = this.reading(n, { pad: 'p'.repeat(huge) });
        break;
      case 'poison-range':
        payload = this.reading(n, { [POISON_KEY]: 40_000 + this.int(20_000) });
        break;
      case 'topic-invalid-utf8':
        m.topic = this.rawTopic(n, [0xff, 0xfe]);
        break;
      case 'topic-invalid-utf8-huge':
        // 3 bytes per byte once decoded and re-encoded (U+FFFD): past the 65,535 bytes a topic can have.
        m.topic = this.rawTopic(n, Array(30_000).fill(0xff));
        break;
      case 'topic-nul':
        m.topic = this.rawTopic(n, [0x61, 0x00, 0x62]);
        break;
      case 'topic-surrogate':
        m.topic = this.rawTopic(n, [0xed, 0xa0, 0x80]);
        break;
      case 'props-invalid-utf8':
        m.userProperties = [[Buffer.from('k'), Buffer.from([0x61, 0xff, 0x62])]];
        break;
      case 'props-nul':
        m.userProperties = [[Buffer.from([0x6b, 0x00]), Buffer.from('v')]];
        break;
      case 'props-surrogate':
        m.userProperties = [[Buffer.from('k'), Buffer.from([0xed, 0xb0, 0x80])]];
        break;
      default:
        throw new Error(`fuzz category "${c.name}" has no generator`);
    }
    if (m.topic.length === 0) m.topic = Buffer.from(topic);
    m.payload = typeof payload === 'string' ? Buffer.from(payload) : payload;
    return m;
  }

  private rawTopic(n: number, bytes: number[]): Buffer {
    const [head, tail] = this.topic(n, { rest: '\u0001' }).split('\u0001') as [string, string];
    return Buffer.concat([Buffer.from(head), Buffer.from(bytes), Buffer.from(tail)]);
  }
}

/** The payload key of a poison reading: a smallint column computed from it overflows (SQLSTATE 22003). */
export const POISON_KEY = 'small';

/**
 * Makes a pipeline's table refuse some rows by their content, as a real schema does: a stored generated smallint
 * column from payload.small. Rows with `small` over 32767 fail with 22003 (numeric value out of range), a
 * row-level error no worker can check before COPY: the DLQ's traffic for the fuzz test and the soak.
 */
export const poisonColumnSql = (table: string) =>
  `ALTER TABLE "${table}" ADD COLUMN IF NOT EXISTS small_value smallint GENERATED ALWAYS AS ((payload->>'${POISON_KEY}')::smallint) STORED`;
