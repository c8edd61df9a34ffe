// SQL identifiers: the schema only admits lower-case identifiers, and everything we interpolate is also
// quoted, so a name can never be read as SQL.

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export function quoteIdent(name: string): string {
  if (!IDENT.test(name)) {
    throw new Error(`"${name}" is not an accepted SQL identifier (lower-case letters, digits and _, at most 63)`);
  }
  return `"${name}"`;
}

export const qualified = (schema: string, table: string) => `${quoteIdent(schema)}.${quoteIdent(table)}`;

/** Index names derived from a table name, cut to PostgreSQL's 63-byte limit. */
export const indexName = (table: string, suffix: string) =>
  quoteIdent(`${table.slice(0, 62 - suffix.length)}_${suffix}`);
