/**
 * The query path holds each source's row, pool and catalogue in memory; a change made on
 * another instance reaches this one through NOTIFY (migration 0035), so a PATCH, a policy or a
 * DELETE elsewhere takes effect here without waiting for the cache's TTL.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient } from './helpers/identity-api.js';

const MASTER_KEY = randomBytes(32).toString('base64');

/** Polls until `fn` returns `want` (NOTIFY is asynchronous); returns the last value seen. */
async function eventually<T>(fn: () => Promise<T>, want: T, tries = 100): Promise<T> {
  let got = await fn();
  for (let i = 0; i < tries && got !== want; i++) {
    await new Promise((r) => setTimeout(r, 50));
    got = await fn();
  }
  return got;
}

describe.each(testDrivers())('SQL source cache across instances (%s)', (driver) => {
  let t: TestDatabase;
  let one: TestApp;
  let two: TestApp;
  let owner: string;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    one = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY });
    const replica = driver === 'postgres' ? await t.openReplica() : t.db;
    two = await createTestApp(replica, { RAMPART_MASTER_KEY: MASTER_KEY });
    owner = (await one.createTenant()).ownerKey;
  }, 120_000);
  afterAll(async () => {
    await two?.close();
    await one?.close();
    await t?.close();
  });

  it('a change on one instance is seen at once by the other', async () => {
    const a = apiClient(one);
    const b = apiClient(two);
    const created = await a('POST', '/v1/sql/sources', owner, { name: 'demo', type: 'sample' });
    expect(created.status, created.text).toBe(201);
    const query = async (sql: string): Promise<string | number> => {
      const r = await a('POST', '/v1/sql/query', owner, { source: 'demo', sql });
      return r.status === 200
        ? JSON.stringify((r.body as { rows: unknown[][] }).rows)
        : `${r.status} ${(r.body as { code?: string }).code ?? ''}`;
    };
    const count = 'SELECT count(*)::int FROM location';
    const before = await query(count);
    expect(before).toMatch(/^\[\[\d+\]\]$/);
    // Held in memory now; the other instance narrows the tables.
    const patched = await b('PATCH', '/v1/sql/sources/demo', owner, {
      tables: ['restaurant'],
    });
    expect(patched.status, patched.text).toBe(200);
    expect(await eventually(() => query(count), '422 sql_table_not_allowed')).toBe(
      '422 sql_table_not_allowed',
    );
    // A row filter set elsewhere applies here too.
    const filtered = await b('PUT', '/v1/sql/sources/demo/policies', owner, {
      rowFilters: [{ table: 'restaurant', group: 'nobody', where: 'false' }],
      masks: [{ table: 'restaurant', column: 'name', exceptGroups: [] }],
    });
    expect(filtered.status, filtered.text).toBe(200);
    const names = 'SELECT DISTINCT name IS NULL FROM restaurant';
    expect(await eventually(() => query(names), '[[true]]')).toBe('[[true]]');
    const removed = await b('DELETE', '/v1/sql/sources/demo', owner);
    expect(removed.status).toBe(204);
    expect(await eventually(() => query(names), '404 not_found')).toBe('404 not_found');
  });
});
