// Versioned schema of one pipeline's tables. Append new versions; never edit an applied one.

import { indexName, qualified, quoteIdent } from './sql.ts';

export interface TableNames {
  schema: string;
  table: string;
  unparseableTable: string;
  payloadFormat: 'json' | 'binary';
}

export interface Migration {
  version: number;
  description: string;
  sql: (t: TableNames) => string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'telemetry and unparseable tables with their indexes',
    sql: (t) => {
      const telemetry = qualified(t.schema, t.table);
      const unparseable = qualified(t.schema, t.unparseableTable);
      return `
CREATE TABLE IF NOT EXISTS ${telemetry} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant text NOT NULL,
  device_id uuid NOT NULL,
  path text NOT NULL,
  payload ${t.payloadFormat === 'json' ? 'jsonb' : 'bytea'} NOT NULL,
  received_at timestamptz NOT NULL,
  ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ${indexName(t.table, 'tenant_received_at_idx')} ON ${telemetry} (tenant, received_at DESC);
CREATE INDEX IF NOT EXISTS ${indexName(t.table, 'device_received_at_idx')} ON ${telemetry} (device_id, received_at DESC);
CREATE TABLE IF NOT EXISTS ${unparseable} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic text NOT NULL,
  payload bytea NOT NULL,
  reason text NOT NULL,
  detail text NOT NULL,
  received_at timestamptz NOT NULL,
  ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ${indexName(t.unparseableTable, 'received_at_idx')} ON ${unparseable} (received_at DESC);
COMMENT ON TABLE ${telemetry} IS 'mqtt2pg telemetry (topic t/{tenant}/d/{device_id}/evt/{path})';
COMMENT ON TABLE ${unparseable} IS 'mqtt2pg messages that broke the device contract, or that PostgreSQL rejected when no dead-letter bucket is set';`;
    },
  },
];

export const migrationsTable = (schema: string) => `${quoteIdent(schema)}."mqtt2pg_migrations"`;
