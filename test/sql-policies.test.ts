/**
 * Row filters and column masks over the defog gold queries, on PostgreSQL and MariaDB sources:
 * for every gold query touching a governed table, the rewritten query run through
 * /v1/sql/query returns exactly the rows the gold query returns when the filter and the mask
 * are applied by hand (a temporary table of the same name holding only the rows the group may
 * see, the masked column set to NULL, which shadows the real one in that session).
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient } from './helpers/identity-api.js';
import {
  loadMysqlSources,
  loadPgSources,
  TEST_MYSQL_URL,
  TEST_PG_URL,
  type MysqlSources,
  type PgSources,
} from './helpers/sql-sources.js';
import { goldQueries, type GoldQuery } from './helpers/text2sql.js';

const DBS = ['restaurants', 'geography', 'academic'] as const;
/** One governed table per database: a filter both dialects read, and a masked column. */
const GOVERNED: Record<(typeof DBS)[number], { table: string; where: string; mask: string }> = {
  restaurants: { table: 'restaurant', where: 'id % 2 = 1', mask: 'name' },
  geography: { table: 'state', where: 'population > 5000000', mask: 'capital' },
  academic: { table: 'author', where: 'aid % 2 = 0', mask: 'homepage' },
};

const canonical = (rows: unknown[][]): string =>
  JSON.stringify(
    rows
      .map((r) => JSON.stringify(r, (_k, v: unknown) => (v instanceof Date ? v.toISOString() : v)))
      .sort(),
  );

const touches = (g: GoldQuery): boolean => {
  const t = GOVERNED[g.db as (typeof DBS)[number]].table;
  return new RegExp(`\\b${t}\\b`, 'i').test(g.sql);
};

/** Makes a tenant with a member in group `g` and the policy of every governed table on `source`. */
async function governedMember(app: TestApp, source: object, schema: string): Promise<string> {
  const call = apiClient(app);
  const owner = (await app.createTenant()).ownerKey;
  const created = await call('POST', '/v1/sql/sources', owner, source);
  expect(created.status, created.text).toBe(201);
  const id = (created.body as { id: string }).id;
  expect((await call('POST', '/v1/groups', owner, { name: 'g' })).status).toBe(201);
  const policies = await call('PUT', `/v1/sql/sources/${id}/policies`, owner, {
    rowFilters: Object.values(GOVERNED).map((p) => ({
      table: `${schema}.${p.table}`,
      group: 'g',
      where: p.where,
    })),
    masks: Object.values(GOVERNED).map((p) => ({
      table: `${schema}.${p.table}`,
      column: p.mask,
      exceptGroups: [],
    })),
  });
  expect(policies.status, policies.text).toBe(200);
  const key = await call('POST', '/v1/api-keys', owner, {
    name: 'governed',
    role: 'member',
    groups: ['g'],
  });
  expect(key.status, key.text).toBe(201);
  return (key.body as { secret: string }).secret;
}

/** Runs every governed gold query through the API and by hand; returns the mismatches. */
async function compare(
  app: TestApp,
  member: string,
  source: (g: GoldQuery) => string,
  byHand: (g: GoldQuery) => Promise<unknown[][] | undefined>,
): Promise<{ mismatches: string[]; compared: number }> {
  const call = apiClient(app);
  const mismatches: string[] = [];
  let compared = 0;
  for (const g of goldQueries(DBS).filter(touches)) {
    const expected = await byHand(g);
    if (!expected) continue;
    compared += 1;
    const res = await call('POST', '/v1/sql/query', member, { source: source(g), sql: g.sql });
    if (res.status !== 200) {
      mismatches.push(`${g.db} #${g.index}: ${res.status} ${res.text.slice(0, 200)}`);
      continue;
    }
    const body = res.body as { rows: unknown[][]; sql: string };
    if (canonical(body.rows) !== canonical(JSON.parse(JSON.stringify(expected)) as unknown[][]))
      mismatches.push(`${g.db} #${g.index}: rows differ (ran ${body.sql.slice(0, 200)})`);
  }
  return { mismatches, compared };
}

describe.skipIf(!TEST_PG_URL)('row filters and masks over the gold queries (PostgreSQL)', () => {
  let sources: PgSources;
  beforeAll(async () => {
    sources = await loadPgSources(TEST_PG_URL ?? '', DBS);
  }, 120_000);
  afterAll(async () => sources?.drop());

  const byHand = async (g: GoldQuery): Promise<unknown[][]> => {
    const p = GOVERNED[g.db as (typeof DBS)[number]];
    const c = new pg.Client({ connectionString: sources.adminUrl(g.db) });
    await c.connect();
    try {
      await c.query(`BEGIN; CREATE TEMP TABLE ${p.table} AS SELECT * FROM public.${p.table}
        WHERE ${p.where}; UPDATE ${p.table} SET ${p.mask} = NULL`);
      return (await c.query<unknown[]>({ text: g.sql, rowMode: 'array' })).rows;
    } finally {
      await c.query('ROLLBACK').catch(() => undefined);
      await c.end();
    }
  };

  describe.each(testDrivers())('Rampart on %s', (driver) => {
    let t: TestDatabase;
    let app: TestApp;
    const members = new Map<string, string>();
    beforeAll(async () => {
      t = await createTestDatabase(driver);
      app = await createTestApp(t.db, {
        RAMPART_MASTER_KEY: randomBytes(32).toString('base64'),
        SQL_MAX_ROWS: '100000',
      });
      for (const db of DBS)
        members.set(
          db,
          await governedMember(
            app,
            { name: db, type: 'postgres', url: sources.readerUrl(db) },
            'public',
          ),
        );
    }, 120_000);
    afterAll(async () => {
      await app?.close();
      await t?.close();
    });

    it('every gold query touching a governed table sees only its rows, masked', async () => {
      const results = { mismatches: [] as string[], compared: 0 };
      for (const db of DBS) {
        const r = await compare(
          app,
          members.get(db) ?? '',
          (g) => g.db,
          (g) => (g.db === db ? byHand(g) : Promise.resolve(undefined)),
        );
        results.mismatches.push(...r.mismatches);
        results.compared += r.compared;
      }
      expect(results.mismatches).toEqual([]);
      expect(results.compared).toBeGreaterThanOrEqual(30);
    }, 300_000);
  });
});

describe.skipIf(!TEST_MYSQL_URL)('row filters and masks over the gold queries (MariaDB)', () => {
  let sources: MysqlSources;
  beforeAll(async () => {
    sources = await loadMysqlSources(TEST_MYSQL_URL ?? '', DBS);
  }, 120_000);
  afterAll(async () => sources?.drop());

  const byHand = async (g: GoldQuery): Promise<unknown[][] | undefined> => {
    const p = GOVERNED[g.db as (typeof DBS)[number]];
    const root = new URL(TEST_MYSQL_URL ?? '');
    const c = await mysql.createConnection({
      host: root.hostname,
      port: Number(root.port || 3306),
      user: decodeURIComponent(root.username || 'root'),
      password: decodeURIComponent(root.password),
      database: sources.database,
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    try {
      await c.query(`CREATE TEMPORARY TABLE ${p.table} AS SELECT * FROM
        ${sources.database}.${p.table} WHERE ${p.where}`);
      await c.query(`UPDATE ${p.table} SET ${p.mask} = NULL`);
      const [rows] = await c.query({ sql: g.sql, rowsAsArray: true });
      const list: unknown = rows;
      return Array.isArray(list)
        ? list.filter((r: unknown): r is unknown[] => Array.isArray(r))
        : [];
    } catch {
      return undefined; // PostgreSQL-only syntax: not a MariaDB gold query
    } finally {
      await c.end();
    }
  };

  describe.each(testDrivers())('Rampart on %s', (driver) => {
    let t: TestDatabase;
    let app: TestApp;
    let member: string;
    beforeAll(async () => {
      t = await createTestDatabase(driver);
      app = await createTestApp(t.db, {
        RAMPART_MASTER_KEY: randomBytes(32).toString('base64'),
        SQL_MAX_ROWS: '100000',
      });
      member = await governedMember(
        app,
        { name: 'maria', type: 'mysql', url: sources.readerUrl },
        sources.database,
      );
    }, 120_000);
    afterAll(async () => {
      await app?.close();
      await t?.close();
    });

    it('rewrites the tree: the masked column is NULL and only filtered rows come back', async () => {
      const res = await apiClient(app)('POST', '/v1/sql/query', member, {
        source: 'maria',
        sql: 'SELECT r.id, r.name FROM restaurant AS r ORDER BY r.id',
      });
      expect(res.status, res.text).toBe(200);
      const body = res.body as { rows: unknown[][]; sql: string };
      expect(body.sql).toContain('WHERE (`id` % 2 = 1)');
      expect(body.rows.length).toBeGreaterThan(0);
      expect(body.rows.every((r) => Number(r[0]) % 2 === 1 && r[1] === null)).toBe(true);
    });

    it('every gold query touching a governed table sees only its rows, masked', async () => {
      const r = await compare(app, member, () => 'maria', byHand);
      expect(r.mismatches).toEqual([]);
      expect(r.compared).toBeGreaterThanOrEqual(20);
    }, 300_000);
  });
});
