import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveRoute } from '../api/routes.ts';
import { addColumnsSql, createRouteTableSql, planRouteTable, routeCopySql } from './route-ddl.ts';

const route = resolveRoute(
  {
    name: 'readings',
    topicFilter: 'plant/+/reading',
    topicPattern: 'plant/{plant}/reading',
    table: 'readings',
    columns: [
      { name: 'plant', type: 'text', from: 'topic.plant' },
      { name: 'temperature', type: 'double precision', from: 'payload.temp' },
      { name: 'measured_at', type: 'timestamptz', from: 'payload.ts' },
    ],
    dedup: { key: ['plant', 'measured_at'] },
  },
  'g',
);

test('a new route table: identity key, the columns (nullable), ingested_at, the dedup key unique index', () => {
  const sql = createRouteTableSql('iot', route);
  assert.match(
    sql,
    /CREATE TABLE IF NOT EXISTS "iot"."readings" \(\n {2}id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n {2}"plant" text,\n {2}"temperature" double precision,\n {2}"measured_at" timestamptz,\n {2}ingested_at/,
  );
  assert.match(
    sql,
    /CREATE UNIQUE INDEX IF NOT EXISTS "readings_dedup_key" ON "iot"."readings" \("plant", "measured_at"\)/,
  );
  assert.equal(routeCopySql('iot', route), 'COPY "iot"."readings" ("plant", "temperature", "measured_at") FROM STDIN');
});

test('evolution: added columns are added, removed ones left, a changed type refused with the migration', () => {
  const plan = planRouteTable('iot', route, [
    { name: 'id', type: 'bigint' },
    { name: 'plant', type: 'character varying(64)' },
    { name: 'measured_at', type: 'timestamp with time zone' },
    { name: 'humidity', type: 'real' },
    { name: 'ingested_at', type: 'timestamp with time zone' },
  ]);
  assert.deepEqual(
    plan.add.map((c) => c.name),
    ['temperature'],
  );
  assert.deepEqual(plan.left, ['humidity']);
  assert.deepEqual(plan.conflicts, []);
  assert.equal(
    addColumnsSql('iot', route, plan.add),
    'ALTER TABLE "iot"."readings" ADD COLUMN IF NOT EXISTS "temperature" double precision',
  );
  const changed = planRouteTable('iot', route, [
    { name: 'plant', type: 'text' },
    { name: 'temperature', type: 'integer' },
    { name: 'measured_at', type: 'timestamp with time zone' },
  ]);
  assert.deepEqual(changed.conflicts, [
    'table iot.readings column temperature is integer, route readings declares double precision: migrate it by hand (ALTER TABLE "iot"."readings" ALTER COLUMN "temperature" TYPE double precision USING "temperature"::double precision), or declare the column integer again, or give the new type a new column name',
  ]);
});
