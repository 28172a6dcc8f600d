/**
 * Text-to-SQL against MariaDB (TEST_MYSQL_URL, e.g. mysql://root@127.0.0.1:3306/test): three
 * defog databases translated to MariaDB; every gold query MariaDB itself runs returns the same
 * rows through /v1/sql/query, and the attack corpus with layer 1 disabled changes nothing.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionLimits } from '../src/sql/connector.js';
import { excessGrants, MysqlConnector } from '../src/sql/mysql-source-store.js';
import { MYSQL_ATTACKS } from './fixtures/sql-attacks.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient } from './helpers/identity-api.js';
import { loadMysqlSources, TEST_MYSQL_URL, type MysqlSources } from './helpers/sql-sources.js';
import { goldQueries } from './helpers/text2sql.js';

const DBS = ['restaurants', 'geography', 'academic'] as const;
const LIMITS: SessionLimits = {
  rowLimit: 100_000,
  maxBytes: 100_000_000,
  statementTimeoutMs: 2_000,
  lockTimeoutMs: 1_000,
  idleTimeoutMs: 5_000,
};

const canonical = (rows: unknown[][]): string[] =>
  rows
    .map((r) => JSON.stringify(r, (_k, v: unknown) => (v instanceof Date ? v.toISOString() : v)))
    .sort();

async function direct(url: string, sql: string): Promise<unknown[][] | undefined> {
  const u = new URL(url);
  const c = await mysql.createConnection({
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  try {
    const [rows] = await c.query({ sql, rowsAsArray: true });
    const list: unknown = rows;
    return Array.isArray(list) ? list.filter((r: unknown): r is unknown[] => Array.isArray(r)) : [];
  } catch {
    return undefined; // PostgreSQL-only syntax: not a MariaDB gold query
  } finally {
    await c.end();
  }
}

describe('MariaDB grants', () => {
  it('only SELECT and USAGE pass', () => {
    expect(
      excessGrants(['GRANT USAGE ON *.* TO `r`@`%`', 'GRANT SELECT ON `db`.`t` TO `r`@`%`']),
    ).toEqual([]);
    expect(
      excessGrants([
        'GRANT SELECT, INSERT, DELETE ON `db`.* TO `r`@`%` WITH GRANT OPTION',
        'GRANT `writer` TO `r`@`%`',
        'GRANT FILE ON *.* TO `r`@`%`',
      ]),
    ).toEqual([
      'INSERT on `db`.*',
      'DELETE on `db`.*',
      'GRANT OPTION on `db`.*',
      'member of role `writer`',
      'FILE on *.*',
    ]);
  });
});

const suite = TEST_MYSQL_URL ? describe : describe.skip;

suite('text-to-SQL on MariaDB sources', () => {
  let sources: MysqlSources;
  beforeAll(async () => {
    sources = await loadMysqlSources(TEST_MYSQL_URL ?? '', DBS);
  }, 120_000);
  afterAll(async () => sources?.drop());

  describe.each(testDrivers())('gold queries through /v1/sql/query (%s)', (driver) => {
    let t: TestDatabase;
    let app: TestApp;
    let owner: string;
    beforeAll(async () => {
      t = await createTestDatabase(driver);
      app = await createTestApp(t.db, {
        RAMPART_MASTER_KEY: randomBytes(32).toString('base64'),
        SQL_MAX_ROWS: '100000',
      });
      owner = (await app.createTenant()).ownerKey;
      const res = await apiClient(app)('POST', '/v1/sql/sources', owner, {
        name: 'maria',
        type: 'mysql',
        url: sources.readerUrl,
      });
      expect(res.status, res.text).toBe(201);
    }, 120_000);
    afterAll(async () => {
      await app?.close();
      await t?.close();
    });

    it('returns the same rows as MariaDB run directly, for every gold query MariaDB runs', async () => {
      const call = apiClient(app);
      const mismatches: string[] = [];
      let compared = 0;
      for (const g of goldQueries(DBS)) {
        const expected = await direct(sources.readerUrl, g.sql);
        if (!expected) continue;
        compared += 1;
        const res = await call('POST', '/v1/sql/query', owner, { source: 'maria', sql: g.sql });
        if (res.status !== 200) {
          mismatches.push(`${g.db} #${g.index}: ${res.status} ${res.text.slice(0, 160)}`);
          continue;
        }
        const rows = (res.body as { rows: unknown[][] }).rows;
        if (
          JSON.stringify(canonical(rows)) !==
          JSON.stringify(canonical(JSON.parse(JSON.stringify(expected)) as unknown[][]))
        )
          mismatches.push(`${g.db} #${g.index}: rows differ`);
      }
      expect(mismatches).toEqual([]);
      expect(compared).toBeGreaterThanOrEqual(30);
    }, 300_000);

    it('refuses a login with more than SELECT, and the layer 1 codes as 422', async () => {
      const root = new URL(TEST_MYSQL_URL ?? '');
      root.pathname = `/${sources.database}`;
      const res = await apiClient(app)('POST', '/v1/sql/sources', owner, {
        name: 'root',
        type: 'mysql',
        url: root.toString(),
      });
      expect(res.status, res.text).toBe(422);
      expect((res.body as { code: string }).code).toBe('sql_login_not_read_only');
      const refused = await apiClient(app)('POST', '/v1/sql/query', owner, {
        source: 'maria',
        sql: "SELECT LOAD_FILE('/etc/passwd')",
      });
      expect(refused.status).toBe(422);
      expect((refused.body as { code: string; offending: string }).offending).toBe('LOAD_FILE');
    });
  });

  it('with layer 1 disabled the corpus writes nothing, reads no file and leaves no session state', async () => {
    const u = new URL(sources.readerUrl);
    const connector = new MysqlConnector('maria', {
      host: u.hostname,
      port: Number(u.port || 3306),
      database: sources.database,
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      ssl: false,
    });
    const checksum = 'SELECT COUNT(*), SUM(id), GROUP_CONCAT(name ORDER BY id) FROM restaurant';
    try {
      const before = await connector.run(checksum, LIMITS);
      const succeeded: string[] = [];
      for (const a of MYSQL_ATTACKS)
        if (
          await connector.run(a.sql, LIMITS).then(
            () => true,
            () => false,
          )
        )
          succeeded.push(a.sql);
      expect(
        succeeded.filter((s) =>
          /OUTFILE|DUMPFILE|DELETE|INSERT|UPDATE|REPLACE|DROP|TRUNCATE|secrets|mysql\.user/i.test(
            s,
          ),
        ),
      ).toEqual([]);
      // Without the FILE privilege LOAD_FILE reads nothing.
      expect((await connector.run("SELECT LOAD_FILE('/etc/passwd')", LIMITS)).rows).toEqual([
        [null],
      ]);
      for (let i = 0; i < 6; i++) {
        const r = await connector.run('SELECT @a, @@session.autocommit', LIMITS);
        expect(r.rows).toEqual([[null, '1']]);
      }
      expect((await connector.run(checksum, LIMITS)).rows).toEqual(before.rows);
      // GET_LOCK's lock went with COM_RESET_CONNECTION.
      expect((await connector.run("SELECT IS_FREE_LOCK('x')", LIMITS)).rows).toEqual([[1]]);
    } finally {
      await connector.close();
    }
  });
});
