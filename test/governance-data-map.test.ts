import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_MAP, PERSON_COLUMN } from '../src/governance/data-map.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

describe.each(testDrivers())('personal-data map (%s)', (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  }, 120_000);
  afterAll(async () => t?.close());

  it('covers, from the catalogue, every column of every table that could name a person', async () => {
    const { rows } = await t.asOwner((q) =>
      q.query<{ table_name: string; column_name: string }>(
        `SELECT c.table_name, c.column_name FROM information_schema.columns c
           JOIN information_schema.tables tb ON tb.table_name = c.table_name AND tb.table_schema = c.table_schema
          WHERE c.table_schema = 'public' AND tb.table_type = 'BASE TABLE'
          ORDER BY 1, 2`,
      ),
    );
    const missing = rows
      .filter((r) => PERSON_COLUMN.test(r.column_name))
      .filter((r) => DATA_MAP[r.table_name]?.columns[r.column_name] === undefined)
      .map((r) => `${r.table_name}.${r.column_name}`);
    expect(missing).toEqual([]);
    // And the map names only what exists (a renamed column fails here, not silently).
    const existing = new Set(rows.map((r) => `${r.table_name}.${r.column_name}`));
    const stale = Object.entries(DATA_MAP).flatMap(([table, e]) =>
      Object.keys(e.columns)
        .map((c) => `${table}.${c}`)
        .filter((tc) => !existing.has(tc)),
    );
    expect(stale).toEqual([]);
  });

  it('the pattern flags the columns that name people', () => {
    for (const c of ['user_id', 'email', 'created_by', 'actor_id', 'caller_user_id', 'subject'])
      expect(PERSON_COLUMN.test(c), c).toBe(true);
    for (const c of ['tenant_id', 'title', 'content_hash'])
      expect(PERSON_COLUMN.test(c), c).toBe(false);
  });
});
