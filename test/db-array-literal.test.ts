import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrayLiteral } from '../src/platform/db/sql.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

// arrayLiteral feeds the usage ledger's batched insert; whatever text a row carries must come
// back from the database exactly as it went in, on both drivers.
describe.each(testDrivers())('arrayLiteral round trips through the database (%s)', (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => t.close());

  it('keeps quotes, backslashes, commas, braces, spaces, NULL and the empty string', async () => {
    const texts = [
      'plain',
      'with "quotes"',
      'back\\slash\\',
      'a,b',
      '{braces}',
      '  spaced  ',
      '',
      'NULL',
      null,
      'üñí 😀',
      'line\nbreak',
    ];
    const ints = [0, -7, 2147483647, null];
    const bools = [true, false, null];
    const uuids = ['7c6b1d8e-8a5e-4d8f-9a43-6f1f3c8f2a10', null];
    const { rows } = await t.db.withOperator((tx) =>
      tx.query<{ t: (string | null)[]; i: (number | null)[]; b: (boolean | null)[]; u: unknown }>(
        // Read back as JSON: PGlite's own parser of array results reads NULL as the text 'NULL'.
        `SELECT array_to_json($1::text[]) AS t, array_to_json($2::int[]) AS i,
                array_to_json($3::boolean[]) AS b, array_to_json($4::uuid[]) AS u`,
        [arrayLiteral(texts), arrayLiteral(ints), arrayLiteral(bools), arrayLiteral(uuids)],
      ),
    );
    expect(rows[0]?.t).toEqual(texts);
    expect(rows[0]?.i).toEqual(ints);
    expect(rows[0]?.b).toEqual(bools);
    expect(rows[0]?.u).toEqual(uuids);
  });

  it('writes an empty array as {}', async () => {
    expect(arrayLiteral([])).toBe('{}');
    const { rows } = await t.db.withOperator((tx) =>
      tx.query<{ n: number }>('SELECT cardinality($1::text[]) AS n', [arrayLiteral([])]),
    );
    expect(rows[0]?.n).toBe(0);
  });
});
