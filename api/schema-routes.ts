// spec.routes: which topics go to which table, and how a message becomes a row of typed columns
// (docs/routes.md). Checks that need several routes at once, or the topic pattern parsed, are in
// route-checks.ts; the CEL rules here have their JavaScript twins in cel-equivalents.ts.

import { arr, bool, int, obj, type Schema, SQL_IDENTIFIER_PATTERN, str } from './schema-builders.ts';

export const COLUMN_TYPES = [
  'text',
  'uuid',
  'smallint',
  'integer',
  'bigint',
  'real',
  'double precision',
  'numeric',
  'boolean',
  'timestamptz',
  'date',
  'jsonb',
  'bytea',
] as const;

export const TIMESTAMP_FORMATS = ['rfc3339', 'epochSeconds', 'epochMillis', 'epochMicros', 'epochNanos'] as const;

/** An MQTT topic filter: wildcards only as whole levels, # only last. */
export const TOPIC_FILTER_PATTERN = '^(([^+#/]*|\\+)/)*([^+#/]*|\\+|#)$';
/** Levels: literal, {name}, {name:uuid}, and last only {name+} (the rest of the topic). */
export const TOPIC_PATTERN_PATTERN =
  '^(([^/{}+#]*|\\{[a-z_][a-z0-9_]*(:uuid)?\\})/)*([^/{}+#]*|\\{[a-z_][a-z0-9_]*(:uuid|\\+)?\\})$';
/** Where a column's value comes from. */
export const COLUMN_SOURCE_PATTERN =
  '^(topic|topic\\.[a-z_][a-z0-9_]*|payload((\\.[^.\\[\\]]+)|(\\[[0-9]+\\]))*|property\\..+|contentType|receivedAt)$';
/** A partition interval or retention: hours, days or weeks. */
export const PARTITION_INTERVAL_PATTERN = '^[1-9][0-9]{0,4}(h|d|w)$';

export const MAX_ROUTES = 16;
export const MAX_COLUMNS = 64;

export const DEDUP_COLUMNS_RULE = 'self.dedup.key.all(k, self.columns.exists(c, c.name == k))';
export const PARTITION_COLUMN_RULE =
  "self.columns.exists(c, c.name == self.partitioning.column && c.type == 'timestamptz')";
export const PARTITION_IN_KEY_RULE =
  '!has(self.partitioning) || !has(self.dedup) || self.dedup.key.exists(k, k == self.partitioning.column)';
export const JSON_PATH_NEEDS_JSON_RULE =
  "!has(self.payloadFormat) || self.payloadFormat == 'json' || self.columns.all(c, !c.from.startsWith('payload.') && !c.from.startsWith('payload['))";
export const FORMAT_NEEDS_TIME_RULE = "!has(self.format) || self.type == 'timestamptz' || self.type == 'date'";

const columnSchema: Schema = obj(
  'One column of the route table and where its value comes from.',
  {
    name: str(
      'Column name: a lower-case SQL identifier. id and ingested_at are the table’s own (an identity key and the insert time).',
      { pattern: SQL_IDENTIFIER_PATTERN, maxLength: 63 },
    ),
    type: str(
      'PostgreSQL type of the column. A value that does not fit it sends the message to the unparseable table (reason column_type, the column named), checked before COPY. Immutable: changing it is refused (migrate by hand, see docs/routes.md).',
      {
        enum: [...COLUMN_TYPES],
        maxLength: 16,
        'x-kubernetes-validations': [
          {
            rule: 'self == oldSelf',
            message:
              'a column\'s type cannot change in place (the worker would write values the table refuses): add a new column with the new type, or migrate by hand (ALTER TABLE ... ALTER COLUMN ... TYPE ..., then change the route); see docs/routes.md "Changing a type or a key"',
          },
        ],
      },
    ),
    from: str(
      'Where the value comes from: topic.<capture> (a capture of topicPattern), topic (the whole topic), payload (the whole payload), payload.<JSON path> such as payload.a.b[0].c (json payloads), property.<name> (an MQTT 5 user property; the first value when repeated), contentType (the MQTT 5 content type) or receivedAt (when the worker received the message).',
      { pattern: COLUMN_SOURCE_PATTERN, maxLength: 512 },
    ),
    format: str(
      'How a timestamptz or date value is read: rfc3339 (e.g. "2026-11-30T15:02:25.123Z"), or a number (or numeric string) since the Unix epoch in epochSeconds, epochMillis, epochMicros or epochNanos. Defaults to rfc3339 for strings, epochMillis for numbers.',
      { enum: [...TIMESTAMP_FORMATS], maxLength: 12 },
    ),
    required: bool(
      'A message without a value for this column (absent, or JSON null) goes to the unparseable table (reason column_missing) instead of storing NULL. The table column stays nullable either way, so adding a required column is online. Defaults to false.',
    ),
  },
  {
    required: ['name', 'type', 'from'],
    'x-kubernetes-validations': [
      {
        rule: FORMAT_NEEDS_TIME_RULE,
        message: 'format applies only to timestamptz and date columns; remove it or change the type',
      },
    ],
  },
);

const intervalStr = (description: string, example: string) =>
  str(`${description} Hours, days or weeks, e.g. "${example}".`, { pattern: PARTITION_INTERVAL_PATTERN });

const routeSchema: Schema = obj(
  'A route: the messages one topic filter brings, parsed by a topic pattern into one table.',
  {
    name: str('Route name, unique in the pipeline: metrics and logs name it.', {
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
      maxLength: 63,
    }),
    topicFilter: str(
      'MQTT topic filter this route subscribes to, as $share/<source.sharedGroup>/<filter>, e.g. "plant/+/line/+/machine/+/reading". The filters of a pipeline’s routes must not overlap, so each message belongs to exactly one route.',
      {
        minLength: 1,
        maxLength: 1024,
        pattern: TOPIC_FILTER_PATTERN,
        'x-kubernetes-validations': [
          {
            rule: "!self.startsWith('$share/')",
            message: 'give the shared-subscription group in source.sharedGroup, not as a $share/ prefix in topicFilter',
          },
        ],
      },
    ),
    topicPattern: str(
      'The topic’s shape, one level per /: a literal, {name} (a capture), {name:uuid} (a capture that must be a UUID) or, last, {name+} (the rest of the topic). A topic the filter brings that does not fit goes to the unparseable table (reason topic_shape). E.g. "plant/{plant}/line/{line}/machine/{machine}/reading".',
      { minLength: 1, maxLength: 1024, pattern: TOPIC_PATTERN_PATTERN },
    ),
    table: str(
      'Table the route writes, in sink.schema; created at start if missing, and given the columns added to the route since (nullable, no rewrite).',
      { pattern: SQL_IDENTIFIER_PATTERN, maxLength: 63 },
    ),
    payloadFormat: str(
      'How the payload is read by the columns that take it: json (payload and payload.<path> columns read it as JSON; one that is not goes to the unparseable table, reason invalid_json), text (UTF-8) or binary (as received, for bytea columns). Defaults to json.',
      { enum: ['json', 'binary', 'text'], maxLength: 6 },
    ),
    columns: arr('The table’s columns and where each value comes from.', columnSchema, {
      minItems: 1,
      maxItems: MAX_COLUMNS,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    }),
    dedup: obj(
      'Makes redeliveries and replays idempotent: a row whose key is already in the table is dropped (counted in metrics). Immutable.',
      {
        key: arr(
          'Columns whose values identify a message, e.g. [machine, measured_at].',
          str('A column name.', { maxLength: 63 }),
          {
            minItems: 1,
            maxItems: 8,
          },
        ),
      },
      { required: ['key'] },
    ),
    partitioning: obj(
      'Makes the table declaratively partitioned by a timestamptz column, with partitions created ahead and dropped past retention. Rows outside every partition go to the unparseable table.',
      {
        column: str('The timestamptz column of this route to partition by.', {
          pattern: SQL_IDENTIFIER_PATTERN,
          maxLength: 63,
        }),
        interval: intervalStr('Time one partition covers.', '1d'),
        retention: intervalStr('Partitions entirely older than this are dropped. Without it, none is dropped.', '90d'),
        premake: int('Partitions kept ready ahead of now. Defaults to 4.', { minimum: 1, maximum: 365 }),
      },
      { required: ['column', 'interval'] },
    ),
  },
  {
    required: ['name', 'topicFilter', 'topicPattern', 'table', 'columns'],
    'x-kubernetes-validations': [
      {
        rule: `!has(self.dedup) || ${DEDUP_COLUMNS_RULE}`,
        message: 'dedup.key must name columns of this route; add the column, or remove it from the key',
      },
      {
        rule: `!has(self.partitioning) || ${PARTITION_COLUMN_RULE}`,
        message: 'partitioning.column must name a timestamptz column of this route',
      },
      {
        rule: PARTITION_IN_KEY_RULE,
        message:
          'on a partitioned route, dedup.key must include partitioning.column: PostgreSQL requires every unique key of a partitioned table to contain the partition column',
      },
      {
        rule: JSON_PATH_NEEDS_JSON_RULE,
        message:
          'payload.<path> columns read JSON: set payloadFormat to json, or take the whole payload (from: payload)',
      },
      {
        rule: '(has(self.dedup) ? self.dedup.key : []) == (has(oldSelf.dedup) ? oldSelf.dedup.key : [])',
        message:
          'a route\'s dedup key cannot change in place (the table\'s unique index holds the old key): create a new route with a new table and the new key and copy the rows over (INSERT ... SELECT ... ON CONFLICT DO NOTHING), or migrate the index by hand; see docs/routes.md "Changing a type or a key"',
      },
    ],
  },
);

export const routesSchema: Schema = arr(
  'Routes: each topic filter into its own table with typed columns (docs/routes.md). Without it the pipeline has one route, the device contract t/{tenant}/d/{device_id:uuid}/evt/{path+} into sink.table, as docs/routes.md writes it out. Defaults to the device route.',
  routeSchema,
  {
    minItems: 1,
    maxItems: MAX_ROUTES,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
  },
);
