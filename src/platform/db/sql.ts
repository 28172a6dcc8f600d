/** Postgres error code of a driver error (pg and PGlite both expose `code`). */
export function pgErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
export const UNIQUE_VIOLATION = '23505';

/**
 * A one-dimensional PostgreSQL array literal (`{"a","b",NULL,3,t}`) for a parameter cast to an
 * array type (`$1::text[]`). Built with one join: node-pg's own array serialiser concatenates
 * element by element, which showed as the largest allocator of a batched insert's rows.
 */
export function arrayLiteral(values: readonly (string | number | boolean | null)[]): string {
  return `{${values.map(arrayElement).join(',')}}`;
}

function arrayElement(v: string | number | boolean | null): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return `"${v.replace(/[\\"]/g, '\\$&')}"`;
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return String(v);
}
