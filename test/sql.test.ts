import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedUpstream, type ScriptedUpstream } from './fakes/fake-openai-scripted.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient, auditOf, type Call } from './helpers/identity-api.js';

interface Query {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  rowCount: number;
  truncated: boolean;
  sql: string;
}

describe.each(testDrivers())('text-to-SQL on the sample source (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: ScriptedUpstream;
  let call: ReturnType<typeof apiClient>;
  let owner: string;
  let tenantId: string;
  let member: string;
  let emea: string;
  let finance: string;
  let other: string;
  let sourceId: string;

  const ok = async (r: Promise<Call>, status = 200): Promise<Call> => {
    const res = await r;
    expect(res.status, res.text).toBe(status);
    return res;
  };
  const key = async (role: string, groups: string[]): Promise<string> =>
    (
      (
        await ok(
          call('POST', '/v1/api-keys', owner, {
            name: `k-${role}-${groups.join('-')}`,
            role,
            groups,
          }),
          201,
        )
      ).body as { secret: string }
    ).secret;

  beforeAll(async () => {
    fake = await startScriptedUpstream();
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, { RAMPART_MASTER_KEY: randomBytes(32).toString('base64') });
    call = apiClient(app);
    const tenant = await app.createTenant();
    owner = tenant.ownerKey;
    tenantId = tenant.id;
    other = (await app.createTenant()).ownerKey;
    for (const name of ['emea', 'finance'])
      await ok(call('POST', '/v1/groups', owner, { name }), 201);
    member = await key('member', []);
    emea = await key('member', ['emea']);
    finance = await key('member', ['finance']);
    const res = await ok(
      call('POST', '/v1/sql/sources', owner, { name: 'demo', type: 'sample' }),
      201,
    );
    sourceId = (res.body as { id: string }).id;
    await ok(
      call('POST', '/v1/providers', owner, {
        name: 'main',
        type: 'openai',
        baseUrl: fake.baseUrl,
        apiKey: 'sk-fake',
      }),
      201,
    );
    await ok(
      call('POST', '/v1/routes', owner, {
        alias: 'default',
        targets: [{ provider: 'main', model: 'gpt-4o-mini' }],
      }),
      201,
    );
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await t?.close();
    await fake?.close();
  });

  it('registers the sample with no database of its own; members read, only admins manage', async () => {
    const list = await ok(call('GET', '/v1/sql/sources', member));
    expect(
      (list.body as { data: { name: string; type: string; tables: string[] }[] }).data,
    ).toEqual([expect.objectContaining({ name: 'demo', type: 'sample', hasPassword: false })]);
    expect(
      (await call('POST', '/v1/sql/sources', member, { name: 'x', type: 'sample' })).status,
    ).toBe(403);
    expect((await call('DELETE', `/v1/sql/sources/${sourceId}`, member)).status).toBe(403);
  });

  it('runs a SELECT read-only and returns columns, rows and the SQL as executed', async () => {
    const res = await ok(
      call('POST', '/v1/sql/query', member, {
        source: 'demo',
        sql: 'SELECT name, rating FROM restaurant WHERE food_type = $$Italian$$ ORDER BY rating DESC',
      }),
    );
    const q = res.body as Query;
    expect(q.columns.map((c) => c.name)).toEqual(['name', 'rating']);
    expect(q.rows.length).toBeGreaterThan(0);
    expect(q.rows[0]?.[0]).toBe('The Pizza Place');
    expect(q.truncated).toBe(false);
    expect(q.sql).toMatch(/^SELECT name, rating FROM restaurant/);
    const events = await auditOf(t, tenantId, res.requestId);
    expect(events.map((e) => e.action)).toContain('sql.queried');
  });

  it('reports truncation at the row limit (limit + 1 fetched)', async () => {
    const q = (
      await ok(
        call('POST', '/v1/sql/query', member, {
          source: sourceId,
          sql: 'SELECT id FROM restaurant ORDER BY id',
          limit: 3,
        }),
      )
    ).body as Query;
    expect(q.rows).toEqual([[1], [2], [3]]);
    expect(q.truncated).toBe(true);
  });

  it.each([
    ['sql_not_read_only', 'WITH x AS (SELECT 1) DELETE FROM restaurant', 'DELETE'],
    ['sql_multiple_statements', 'SELECT 1; SELECT 2', undefined],
    ['sql_function_not_allowed', "SELECT pg_read_file('/etc/passwd')", 'pg_read_file'],
    ['sql_table_not_allowed', 'SELECT * FROM pg_authid', 'pg_authid'],
    ['sql_parse_error', 'SELEC 1', undefined],
  ])('refuses with 422 %s', async (code, sql, offending) => {
    const res = await call('POST', '/v1/sql/query', member, { source: 'demo', sql });
    expect(res.status, res.text).toBe(422);
    const body = res.body as { code: string; offending: string };
    expect(body.code).toBe(code);
    if (offending) expect(body.offending).toBe(offending);
    const events = await auditOf(t, tenantId, res.requestId);
    expect(events.find((e) => e.action === 'sql.refused')).toBeDefined();
  });

  it("introspects the schema and merges the admins' annotations", async () => {
    await ok(
      call('PUT', `/v1/sql/sources/${sourceId}/annotations`, owner, {
        tables: { restaurant: 'One row per restaurant.' },
        columns: { 'restaurant.rating': 'Stars, 0 to 5.' },
        examples: [{ question: 'How many restaurants?', sql: 'SELECT count(*) FROM restaurant' }],
      }),
    );
    const s = (await ok(call('GET', `/v1/sql/sources/${sourceId}/schema`, member))).body as {
      tables: {
        name: string;
        description?: string;
        columns: { name: string; type: string; description?: string; values?: string[] }[];
      }[];
    };
    expect(s.tables.map((x) => x.name).sort()).toEqual(['geographic', 'location', 'restaurant']);
    const restaurant = s.tables.find((x) => x.name === 'restaurant');
    expect(restaurant?.description).toBe('One row per restaurant.');
    expect((await ok(call('GET', `/v1/sql/sources/${sourceId}/annotations`, owner))).body).toEqual({
      tables: { restaurant: 'One row per restaurant.' },
      columns: { 'restaurant.rating': 'Stars, 0 to 5.' },
      examples: [{ question: 'How many restaurants?', sql: 'SELECT count(*) FROM restaurant' }],
    });
    expect((await call('GET', `/v1/sql/sources/${sourceId}/annotations`, member)).status).toBe(403);
    expect(restaurant?.columns.find((c) => c.name === 'rating')).toMatchObject({
      type: 'real',
      description: 'Stars, 0 to 5.',
    });
    expect(restaurant?.columns.find((c) => c.name === 'food_type')?.values).toContain('Italian');
    await ok(call('POST', `/v1/sql/sources/${sourceId}/schema/refresh`, owner));
  });

  it('applies row filters and column masks per group by rewriting the tree', async () => {
    await ok(
      call('PUT', `/v1/sql/sources/${sourceId}/policies`, owner, {
        rowFilters: [{ table: 'restaurant', group: 'emea', where: "city_name = 'New York'" }],
        masks: [{ table: 'restaurant', column: 'rating', exceptGroups: ['finance'] }],
      }),
    );
    const sql =
      'WITH r AS (SELECT city_name, rating FROM restaurant) SELECT DISTINCT city_name, rating FROM r ORDER BY 1, 2';
    const asEmea = (await ok(call('POST', '/v1/sql/query', emea, { source: 'demo', sql })))
      .body as Query;
    expect(new Set(asEmea.rows.map((r) => r[0]))).toEqual(new Set(['New York']));
    expect(asEmea.rows.every((r) => r[1] === null)).toBe(true);
    // A joined table is rewritten too.
    const joined = (
      await ok(
        call('POST', '/v1/sql/query', emea, {
          source: 'demo',
          sql: 'SELECT DISTINCT r.city_name FROM location l JOIN restaurant r ON r.id = l.restaurant_id',
        }),
      )
    ).body as Query;
    expect(new Set(joined.rows.map((r) => r[0]))).toEqual(new Set(['New York']));
    const asFinance = (await ok(call('POST', '/v1/sql/query', finance, { source: 'demo', sql })))
      .body as Query;
    expect(new Set(asFinance.rows.map((r) => r[0])).size).toBeGreaterThan(1);
    expect(asFinance.rows.some((r) => typeof r[1] === 'number')).toBe(true);
    // A filter that is not a pure predicate over allowed tables is refused.
    const bad = await call('PUT', `/v1/sql/sources/${sourceId}/policies`, owner, {
      rowFilters: [{ table: 'restaurant', group: 'emea', where: 'pg_sleep(1) IS NULL' }],
    });
    expect(bad.status).toBe(422);
    // GET reads back what was last written (the refused PUT changed nothing).
    const stored = (await ok(call('GET', `/v1/sql/sources/demo/policies`, owner))).body;
    expect(stored).toEqual({
      rowFilters: [{ table: 'restaurant', group: 'emea', where: "city_name = 'New York'" }],
      masks: [{ table: 'restaurant', column: 'rating', exceptGroups: ['finance'] }],
    });
    expect((await call('GET', `/v1/sql/sources/demo/policies`, emea)).status).toBe(403);
    await ok(call('PUT', `/v1/sql/sources/${sourceId}/policies`, owner, {}));
    expect((await ok(call('GET', `/v1/sql/sources/${sourceId}/policies`, owner))).body).toEqual({
      rowFilters: [],
      masks: [],
    });
  });

  it('asks through the gateway with examples in the prompt, and repairs one failing query', async () => {
    let n = 0;
    fake.chatReply = () => {
      n += 1;
      return n === 1
        ? "```sql\nSELECT count(*) FROM restaurant WHERE cuisine = 'Italian'\n```\nCounts Italian places."
        : "```sql\nSELECT count(*) FROM restaurant WHERE food_type = 'Italian'\n```\nCounts Italian places.";
    };
    const before = fake.chatRequests.length;
    const res = await ok(
      call('POST', '/v1/sql/ask', member, {
        source: 'demo',
        question: 'How many Italian restaurants are there?',
      }),
    );
    const body = res.body as Query & { attempts: number; explanation: string };
    expect(body.attempts).toBe(2);
    expect(Number(body.rows[0]?.[0])).toBe(2);
    expect(body.explanation).toBe('Counts Italian places.');
    const first = fake.chatRequests[before];
    expect(first?.messages.map((m) => m.content).join('\n')).toContain('How many restaurants?');
    const repair = fake.chatRequests[before + 1];
    expect(repair?.messages.at(-1)?.content).toMatch(/cuisine/);
  });

  it('another tenant never sees, queries or learns of the source', async () => {
    const list = await ok(call('GET', '/v1/sql/sources', other));
    expect((list.body as { data: unknown[] }).data).toEqual([]);
    for (const ref of [sourceId, 'demo']) {
      expect((await call('GET', `/v1/sql/sources/${ref}`, other)).status).toBe(404);
      expect(
        (await call('POST', '/v1/sql/query', other, { source: ref, sql: 'SELECT 1' })).status,
      ).toBe(404);
      expect((await call('GET', `/v1/sql/sources/${ref}/schema`, other)).status).toBe(404);
      expect((await call('DELETE', `/v1/sql/sources/${ref}`, other)).status).toBe(404);
    }
  });
});
