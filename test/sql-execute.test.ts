/**
 * Text-to-SQL against real PostgreSQL: every defog gold query returns the same rows through
 * /v1/sql/query as run directly, and layers 2 and 3 hold on their own with layer 1 out of the
 * way. Needs TEST_DATABASE_URL (the source databases live there, whatever Rampart's own driver).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  pgSession,
  PostgresConnector,
  resetSession,
  runReadOnly,
  type PgSession,
} from '../src/sql/pg-source-store.js';
import type { SessionLimits } from '../src/sql/connector.js';
import { POSTGRES_ATTACKS } from './fixtures/sql-attacks.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient } from './helpers/identity-api.js';
import { loadPgSources, TEST_PG_URL, type PgSources } from './helpers/sql-sources.js';
import { goldQueries, TEXT2SQL_DATABASES } from './helpers/text2sql.js';

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

async function direct(url: string, sql: string): Promise<unknown[][]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<unknown[]>({ text: sql, rowMode: 'array' })).rows;
  } finally {
    await c.end();
  }
}

const suite = TEST_PG_URL ? describe : describe.skip;

suite('text-to-SQL on PostgreSQL sources', () => {
  let sources: PgSources;
  beforeAll(async () => {
    sources = await loadPgSources(TEST_PG_URL ?? '', TEXT2SQL_DATABASES);
  }, 120_000);
  afterAll(async () => sources?.drop());

  describe.each(testDrivers())('every gold query through /v1/sql/query (%s)', (driver) => {
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
      const call = apiClient(app);
      for (const db of TEXT2SQL_DATABASES) {
        const res = await call('POST', '/v1/sql/sources', owner, {
          name: db.replace(/_/g, '-'),
          type: 'postgres',
          url: sources.readerUrl(db),
          schemas: db === 'ewallet' ? ['consumer_div', 'public'] : ['public'],
        });
        expect(res.status, res.text).toBe(201);
        expect(JSON.stringify(res.body)).not.toContain(sources.reader.password);
      }
    }, 120_000);
    afterAll(async () => {
      await app?.close();
      await t?.close();
    });

    it('returns the same rows as the statement run directly, for all of them', async () => {
      const call = apiClient(app);
      const gold = goldQueries();
      const mismatches: string[] = [];
      for (const g of gold) {
        const expected = await direct(sources.readerUrl(g.db), g.sql);
        const res = await call('POST', '/v1/sql/query', owner, {
          source: g.db.replace(/_/g, '-'),
          sql: g.sql,
        });
        if (res.status !== 200) {
          mismatches.push(`${g.db} #${g.index}: ${res.status} ${res.text.slice(0, 200)}`);
          continue;
        }
        const body = res.body as { rows: unknown[][]; truncated: boolean };
        if (
          body.truncated ||
          JSON.stringify(canonical(body.rows)) !==
            JSON.stringify(canonical(JSON.parse(JSON.stringify(expected)) as unknown[][]))
        )
          mismatches.push(`${g.db} #${g.index}: rows differ`);
      }
      expect(mismatches).toEqual([]);
      expect(gold.length).toBeGreaterThan(210);
    }, 300_000);

    it('introspects only what the login may read (no secrets table in the schema)', async () => {
      const res = await apiClient(app)('GET', '/v1/sql/sources/restaurants/schema', owner);
      expect(res.status, res.text).toBe(200);
      const names = (res.body as { tables: { name: string }[] }).tables.map((x) => x.name).sort();
      expect(names).toEqual(['geographic', 'location', 'restaurant']);
    });

    it('refuses a login that may write, listing each excess privilege', async () => {
      const res = await apiClient(app)('POST', '/v1/sql/sources', owner, {
        name: 'as-superuser',
        type: 'postgres',
        url: sources.adminUrl('restaurants'),
      });
      expect(res.status, res.text).toBe(422);
      const body = res.body as { code: string; privileges: string[] };
      expect(body.code).toBe('sql_login_not_read_only');
      expect(body.privileges).toContain('SUPERUSER');
      expect(body.privileges).toContain('DELETE on public.restaurant');
    });

    it('refuses a private address unless the operator allows it, and says so', async () => {
      const strict = await createTestApp(t.db, {
        RAMPART_MASTER_KEY: randomBytes(32).toString('base64'),
        OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'false',
      });
      try {
        const key = (await strict.createTenant()).ownerKey;
        const res = await apiClient(strict)('POST', '/v1/sql/sources', key, {
          name: 'private',
          type: 'postgres',
          url: sources.readerUrl('restaurants'),
        });
        expect(res.status).toBe(400);
        expect(res.text).toContain('OUTBOUND_ALLOW_PRIVATE_ADDRESSES');
      } finally {
        await strict.close();
      }
    });

    it('gives 503 for a source that is down and 504 sql_timeout past the statement timeout', async () => {
      const call = apiClient(app);
      const down = await call('POST', '/v1/sql/sources', owner, {
        name: 'down',
        type: 'postgres',
        url: 'postgres://nobody@127.0.0.1:1/nothing',
      });
      expect(down.status, down.text).toBe(503);
      expect((down.body as { code: string }).code).toBe('sql_source_unavailable');
      const slow = await createTestApp(t.db, {
        RAMPART_MASTER_KEY: randomBytes(32).toString('base64'),
        SQL_STATEMENT_TIMEOUT_MS: '200',
      });
      try {
        const key = (await slow.createTenant()).ownerKey;
        const c = apiClient(slow);
        expect(
          (
            await c('POST', '/v1/sql/sources', key, {
              name: 'geo',
              type: 'postgres',
              url: sources.readerUrl('geography'),
            })
          ).status,
        ).toBe(201);
        // A cross join big enough to outlast 200 ms, made only of allowed functions.
        const res = await c('POST', '/v1/sql/query', key, {
          source: 'geo',
          sql: 'SELECT count(*) FROM city a, city b, city c, city d, city e, city f, city g',
        });
        expect(res.status, res.text).toBe(504);
        expect((res.body as { code: string }).code).toBe('sql_timeout');
      } finally {
        await slow.close();
      }
    });
  });

  describe('with layer 1 disabled', () => {
    async function fingerprint(): Promise<string> {
      const rows = await direct(
        sources.adminUrl('restaurants'),
        `SELECT (SELECT md5(string_agg(r::text, ',' ORDER BY r::text)) FROM restaurant r),
                (SELECT md5(string_agg(l::text, ',' ORDER BY l::text)) FROM location l),
                (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'public' OR n.nspname LIKE 'pg_temp%'),
                -- lo_from_bytea writes even in a READ ONLY transaction: the ROLLBACK undoes it.
                (SELECT count(*) FROM pg_largeobject_metadata)`,
      );
      return JSON.stringify(rows);
    }

    it('layer 3 alone: the reader login cannot write, create or make temp tables outside any transaction', async () => {
      const c = new pg.Client({ connectionString: sources.readerUrl('restaurants') });
      await c.connect();
      try {
        for (const sql of [
          'DELETE FROM restaurant',
          "UPDATE restaurant SET name = 'x'",
          'INSERT INTO restaurant (id) VALUES (1)',
          'TRUNCATE restaurant',
          'CREATE TABLE t (a int)',
          'CREATE TEMP TABLE t (a int)',
          "SELECT pg_read_file('/etc/passwd')",
          "COPY restaurant TO PROGRAM 'id'",
          "SELECT lo_import('/etc/passwd')",
          'SELECT * FROM secrets',
        ])
          await expect(c.query(sql), sql).rejects.toMatchObject({ code: '42501' });
      } finally {
        await c.end();
      }
    });

    it('layer 2 alone (a superuser session): no write and no lasting setting', async () => {
      const before = await fingerprint();
      const c = new pg.Client({ connectionString: sources.adminUrl('restaurants') });
      await c.connect();
      const s: PgSession = pgSession(c);
      try {
        for (const a of POSTGRES_ATTACKS) {
          if (
            /pg_read|lo_|COPY|pg_ls_dir|pg_stat_file|LOAD|pg_terminate|pg_cancel|pg_reload/i.test(
              a.sql,
            )
          )
            continue;
          await runReadOnly(s, a.sql, LIMITS, ['public']).catch(() => undefined);
          await resetSession(s).catch(() => undefined);
        }
        const settings = await c.query<{ ro: string; to: string; sp: string; wm: string }>(
          `SELECT current_setting('default_transaction_read_only') AS ro,
                  current_setting('statement_timeout') AS to, current_setting('search_path') AS sp,
                  current_setting('work_mem') AS wm`,
        );
        expect(settings.rows[0]).toEqual({ ro: 'off', to: '0', sp: '"$user", public', wm: '4MB' });
      } finally {
        await c.end();
      }
      expect(await fingerprint()).toBe(before);
      const lock = await direct(sources.adminUrl('restaurants'), 'SELECT pg_try_advisory_lock(1)');
      expect(lock).toEqual([[true]]);
    });

    it('layers 2 and 3 together refuse every statement of the corpus that writes, reads files or lasts', async () => {
      const before = await fingerprint();
      const connector = new PostgresConnector(
        'restaurants',
        connectionOf(sources.readerUrl('restaurants')),
        2_000,
      );
      const succeeded: string[] = [];
      try {
        for (const a of POSTGRES_ATTACKS) {
          const ok = await connector.run(a.sql, LIMITS, ['public']).then(
            () => true,
            () => false,
          );
          if (ok) succeeded.push(a.sql);
        }
        // Whatever ran changed no setting on any pooled connection.
        for (let i = 0; i < 8; i++) {
          const r = await connector.run(
            "SELECT current_setting('transaction_read_only'), current_setting('work_mem'), current_setting('search_path') LIKE 'pg_catalog%'",
            LIMITS,
            ['public'],
          );
          expect(r.rows).toEqual([['on', '4MB', true]]);
        }
      } finally {
        await connector.close();
      }
      expect(await fingerprint()).toBe(before);
      // What did run is harmless reads (catalogue lookups, pure functions, set_config that the
      // probe above shows did not last, advisory locks DISCARD ALL released): never a file or a write.
      for (const sql of succeeded)
        expect(sql).not.toMatch(/pg_read|lo_import|lo_export|COPY|DELETE|UPDATE|INSERT|secrets/i);
      expect(succeeded.length).toBeLessThan(POSTGRES_ATTACKS.length / 3);
      const lock = await direct(sources.adminUrl('restaurants'), 'SELECT pg_try_advisory_lock(1)');
      expect(lock).toEqual([[true]]);
    });
  });
});

function connectionOf(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    database: u.pathname.slice(1),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    ssl: false,
  };
}
