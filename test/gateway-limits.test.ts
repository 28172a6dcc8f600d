import type { AddressInfo } from 'node:net';
import { countTokens } from 'gpt-tokenizer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/platform/db/database.js';
import { bearer, createTestApp, untilKeyKnown, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 42).toString('base64');
// A generous Redis timeout: a budgeted request Redis does not answer in time gets 503, and these
// tests are about exactness under concurrency, not about a test machine too busy to read a reply
// within the default 150 ms (the slow-Redis test below sets 10 ms on purpose).
const SETTINGS = { RAMPART_MASTER_KEY: MASTER_KEY, RATE_LIMIT_REDIS_TIMEOUT_MS: '2000' };
const REDIS = process.env.TEST_REDIS_URL;
/** Nothing listens here: a Redis that is down. */
const DEAD_REDIS = 'redis://127.0.0.1:6390';
const backends = REDIS ? (['local', 'redis'] as const) : (['local'] as const);

type Tenant = { id: string; ownerKey: string };
const ASK = [{ role: 'user', content: 'a b c' }];
// The fake echoes "echo: a b c": 4 completion tokens. With max_tokens 4 and a price on output
// tokens only, the reservation equals the settled cost, so "fits 10" is exact.
const OUT_TOKENS = 4;
const USD_PER_MTOK_OUT = 1;
const COST = (OUT_TOKENS * USD_PER_MTOK_OUT) / 1e6;

/** Fixed one-minute windows: start a window-sensitive test away from the boundary. */
async function awayFromWindowEdge(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 5_000) await new Promise((r) => setTimeout(r, left + 50));
}

async function setupTenant(app: TestApp, fake: FakeUpstream): Promise<Tenant> {
  const t = await app.createTenant();
  const h = bearer(t.ownerKey);
  const p = await app.app.inject({
    method: 'POST',
    url: '/v1/providers',
    headers: h,
    payload: { name: 'main', type: 'openai', baseUrl: fake.baseUrl, apiKey: 'sk-fake' },
  });
  expect(p.statusCode, p.body).toBe(201);
  for (const [alias, model] of [
    ['fast', 'priced-model'],
    ['slow', 'slow-stream'],
  ] as const) {
    const r = await app.app.inject({
      method: 'POST',
      url: '/v1/routes',
      headers: h,
      payload: { alias, targets: [{ provider: 'main', model, weight: 1 }] },
    });
    expect(r.statusCode, r.body).toBe(201);
  }
  const price = await app.app.inject({
    method: 'PUT',
    url: '/v1/prices/priced-model',
    headers: h,
    payload: { input: 0, output: USD_PER_MTOK_OUT, cachedInput: 0 },
  });
  expect(price.statusCode, price.body).toBe(200);
  return t;
}

async function createKey(app: TestApp, t: Tenant, extra: Record<string, unknown>): Promise<string> {
  const res = await app.app.inject({
    method: 'POST',
    url: '/v1/api-keys',
    headers: bearer(t.ownerKey),
    payload: { name: 'limited', role: 'member', ...extra },
  });
  expect(res.statusCode, res.body).toBe(201);
  return (res.json() as { secret: string }).secret;
}

function chat(app: TestApp, key: string, extra: Record<string, unknown> = {}) {
  return app.app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: bearer(key),
    payload: { model: 'fast', messages: ASK, max_tokens: OUT_TOKENS, ...extra },
  });
}

/** The durable budget record, once every app has settled and written its batched spend. */
async function spend(db: Database, tenantId: string, apps: TestApp[]) {
  for (const a of apps) await a.gateway.limits.flush();
  const { rows } = await db.withTenant({ tenantId, groups: [] }, (tx) =>
    tx.query<{ scope: string; spent_usd: string; reserved_usd: string }>(
      `SELECT scope, spent_usd, reserved_usd FROM budget_spend ORDER BY scope`,
    ),
  );
  return rows.map((r) => ({
    scope: r.scope,
    spent: Number(r.spent_usd),
    reserved: Number(r.reserved_usd),
  }));
}

describe.each(testDrivers().flatMap((d) => backends.map((b) => [d, b] as const)))(
  'gateway limits and budgets (%s, %s counters)',
  (driver, backend) => {
    let t: TestDatabase;
    let app: TestApp;
    let fake: FakeUpstream;
    const redisUrl = backend === 'redis' ? REDIS : undefined;

    beforeAll(async () => {
      t = await createTestDatabase(driver);
      fake = await startFakeOpenAI();
      app = await createTestApp(t.db, SETTINGS, { redisUrl });
    });
    afterAll(async () => {
      await app?.close();
      await fake?.close();
      await t?.close();
    });

    /** Runs `fn` once per failure mode against an app whose Redis is unreachable. */
    async function withDeadRedis(
      fn: (down: TestApp, mode: 'open' | 'closed') => Promise<void>,
    ): Promise<void> {
      for (const mode of ['open', 'closed'] as const) {
        const down = await createTestApp(
          t.db,
          { RAMPART_MASTER_KEY: MASTER_KEY, RATE_LIMIT_REDIS_FAILURE_MODE: mode },
          { redisUrl: DEAD_REDIS },
        );
        try {
          await fn(down, mode);
        } finally {
          down.redis?.disconnect();
          await down.close();
        }
      }
    }

    it('allows exactly rpm requests a minute, then 429 with Retry-After and x-ratelimit headers', async () => {
      const tenant = await setupTenant(app, fake);
      const key = await createKey(app, tenant, { limits: { rpm: 3 } });
      await awayFromWindowEdge();
      for (let i = 0; i < 3; i++) {
        // The last one streams: its headers go out before the body, limits included.
        const ok = await chat(app, key, i === 2 ? { stream: true } : {});
        expect(ok.statusCode, ok.body).toBe(200);
        expect(ok.headers['x-ratelimit-limit-requests']).toBe('3');
        expect(ok.headers['x-ratelimit-remaining-requests']).toBe(String(2 - i));
        expect(ok.headers['x-ratelimit-reset-requests']).toMatch(/^\d+s$/);
      }
      expect((await chat(app, key, { stream: true })).statusCode).toBe(429);
      const limited = await chat(app, key);
      expect(limited.statusCode).toBe(429);
      expect(limited.headers['x-ratelimit-remaining-requests']).toBe('0');
      expect(limited.json()).toMatchObject({
        error: { code: 'rate_limited', type: expect.any(String) as string },
      });
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(limited.headers['x-ratelimit-limit-requests']).toBe('3');
      expect(limited.headers['x-ratelimit-remaining-requests']).toBe('0');
      expect(limited.headers['x-ratelimit-reset-requests']).toMatch(/^\d+s$/);
      // Another key of the same tenant is not affected by this key's limit.
      const other = await createKey(app, tenant, {});
      expect((await chat(app, other)).statusCode).toBe(200);
    });

    it('applies tenant-wide limits from PUT /v1/limits across keys', async () => {
      const tenant = await setupTenant(app, fake);
      const put = await app.app.inject({
        method: 'PUT',
        url: '/v1/limits',
        headers: bearer(tenant.ownerKey),
        payload: { rpm: 2, budgetUsd: 5, budgetPeriod: 'month' },
      });
      expect(put.statusCode, put.body).toBe(200);
      const got = await app.app.inject({
        method: 'GET',
        url: '/v1/limits',
        headers: bearer(tenant.ownerKey),
      });
      expect(got.json()).toEqual({ rpm: 2, budgetUsd: 5, budgetPeriod: 'month' });
      const k1 = await createKey(app, tenant, {});
      const k2 = await createKey(app, tenant, {});
      await awayFromWindowEdge();
      expect((await chat(app, k1)).statusCode).toBe(200);
      expect((await chat(app, k2)).statusCode).toBe(200);
      const third = await chat(app, k1);
      expect(third.statusCode).toBe(429);
      expect(third.headers['x-ratelimit-limit-requests']).toBe('2');
      const member = await createKey(app, tenant, {});
      const refused = await app.app.inject({
        method: 'PUT',
        url: '/v1/limits',
        headers: bearer(member),
        payload: { rpm: 1000 },
      });
      expect(refused.statusCode).toBe(403);
    });

    it('a request refused by one counter leaves the others as they were', async () => {
      const tenant = await setupTenant(app, fake);
      const put = (rpm: number) =>
        app.app.inject({
          method: 'PUT',
          url: '/v1/limits',
          headers: bearer(tenant.ownerKey),
          payload: { rpm },
        });
      expect((await put(2)).statusCode).toBe(200);
      const key = await createKey(app, tenant, { limits: { rpm: 3 } });
      await awayFromWindowEdge();
      expect((await chat(app, key)).statusCode).toBe(200);
      expect((await chat(app, key)).statusCode).toBe(200);
      const byTenant = await chat(app, key);
      expect(byTenant.statusCode).toBe(429);
      expect(byTenant.headers['x-ratelimit-limit-requests']).toBe('2');
      // The tenant's limit goes up: the key still has exactly one request of its 3 left.
      expect((await put(100)).statusCode).toBe(200);
      const last = await chat(app, key);
      expect(last.statusCode).toBe(200);
      expect(last.headers['x-ratelimit-remaining-requests']).toBe('0');
      expect((await chat(app, key)).statusCode).toBe(429);
    });

    it('counts tokens per minute by estimate, then by the reported usage', async () => {
      const tenant = await setupTenant(app, fake);
      const maxTokens = 100;
      // What Rampart reserves before the call: the offline prompt count (each message's JSON,
      // plus one token per message) plus max_tokens.
      const estimate = ASK.reduce((n, m) => n + 1 + countTokens(JSON.stringify(m)), 0) + maxTokens;
      const actual = 4 + 4; // the fake's usage: prompt words + 1 per message, completion words
      const key = await createKey(app, tenant, { limits: { tpm: 2 * actual + estimate - 1 } });
      await awayFromWindowEdge();
      // Without settling to the actual usage the second request would not fit.
      const first = await chat(app, key, { max_tokens: maxTokens });
      expect(first.statusCode).toBe(200);
      expect(first.headers['x-ratelimit-limit-tokens']).toBe(String(2 * actual + estimate - 1));
      expect(first.headers['x-ratelimit-remaining-tokens']).toBe(String(2 * actual - 1));
      // A key without limits gets no x-ratelimit headers.
      expect((await chat(app, tenant.ownerKey)).headers['x-ratelimit-limit-requests']).toBe(
        undefined,
      );
      expect((await chat(app, key, { max_tokens: maxTokens })).statusCode).toBe(200);
      const third = await chat(app, key, { max_tokens: maxTokens });
      expect(third.statusCode).toBe(429);
      expect(third.json()).toMatchObject({ error: { code: 'rate_limited' } });
      expect(third.headers['x-ratelimit-limit-tokens']).toBe(String(2 * actual + estimate - 1));
    });

    it('limits a key to its models: 403 model_not_allowed, and /v1/models lists only those', async () => {
      const tenant = await setupTenant(app, fake);
      const res = await app.app.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: bearer(tenant.ownerKey),
        payload: { name: 'fast-only', role: 'member', models: ['fast'] },
      });
      const { id, secret } = res.json() as { id: string; secret: string };
      const denied = await chat(app, secret, { model: 'slow' });
      expect(denied.statusCode).toBe(403);
      expect(denied.json()).toMatchObject({
        error: { code: 'model_not_allowed', type: expect.any(String) as string },
      });
      expect((await chat(app, secret)).statusCode).toBe(200);
      const models = async () =>
        (
          (
            await app.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(secret) })
          ).json() as { data: { id: string }[] }
        ).data
          .map((m) => m.id)
          .sort();
      expect(await models()).toEqual(['fast']);
      const patched = await app.app.inject({
        method: 'PATCH',
        url: `/v1/api-keys/${id}`,
        headers: bearer(tenant.ownerKey),
        payload: { models: null },
      });
      expect(patched.statusCode, patched.body).toBe(200);
      expect(await models()).toEqual(['fast', 'slow']);
    });

    it('holds concurrency slots for the life of a stream and frees them on disconnect', async () => {
      // Its own listening instance, so the streams' connections die with it.
      const served = await createTestApp(t.db, SETTINGS, { redisUrl });
      const tenant = await setupTenant(served, fake);
      const key = await createKey(served, tenant, { limits: { concurrency: 2 } });
      await served.app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(served.app.server.address() as AddressInfo).port}`;
      const open = async () => {
        const ctl = new AbortController();
        const res = await fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { ...bearer(key), 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'slow', messages: ASK, stream: true }),
          signal: ctl.signal,
        });
        expect(res.status).toBe(200);
        const reader = (res.body as ReadableStream<Uint8Array>).getReader();
        await reader.read(); // the stalled stream's first chunk: the request is in flight
        return ctl;
      };
      try {
        const first = await open();
        const second = await open();
        const third = await chat(served, key);
        expect(third.statusCode).toBe(429);
        expect(third.json()).toMatchObject({ error: { code: 'rate_limited' } });
        first.abort();
        let after = await chat(served, key);
        for (let i = 0; i < 100 && after.statusCode === 429; i++) {
          await new Promise((r) => setTimeout(r, 20));
          after = await chat(served, key);
        }
        expect(after.statusCode).toBe(200);
        second.abort();
      } finally {
        served.app.server.closeAllConnections();
        await served.close();
      }
    });

    it('50 concurrent requests against a budget that fits 10 never settle above it', async () => {
      // Redis when configured; else in process on the embedded database (one process alone can
      // open it), in Postgres otherwise.
      const store = redisUrl ? 'redis' : driver === 'pglite' ? 'in-process' : 'postgres';
      expect(app.gateway.limits.budgetStore).toBe(store);
      const tenant = await setupTenant(app, fake);
      const budget = COST * 10.5;
      const key = await createKey(app, tenant, {
        limits: { budgetUsd: budget, budgetPeriod: 'day' },
      });
      const results = await Promise.all(Array.from({ length: 50 }, () => chat(app, key)));
      const ok = results.filter((r) => r.statusCode === 200).length;
      const refused = results.filter((r) => r.statusCode === 429);
      expect(ok + refused.length).toBe(50);
      for (const r of refused)
        expect(r.json()).toMatchObject({ error: { code: 'budget_exceeded' } });
      expect(ok).toBeGreaterThanOrEqual(1);
      expect(ok).toBeLessThanOrEqual(10);
      const [row] = await spend(t.db, tenant.id, [app]);
      expect(row?.spent).toBeLessThanOrEqual(budget);
      expect(row?.spent).toBeCloseTo(ok * COST, 12);
      expect(row?.reserved).toBe(0);
    });

    it.skipIf(!redisUrl)(
      'with Redis too slow to answer in time, 50 concurrent requests still never settle above a budget that fits 10',
      async () => {
        // A 10 ms limit on each Redis call: under this load some admits time out after the
        // script may have run. Each one must be refused, never admitted by another store.
        const slow = await createTestApp(
          t.db,
          { RAMPART_MASTER_KEY: MASTER_KEY, RATE_LIMIT_REDIS_TIMEOUT_MS: '10' },
          { redisUrl },
        );
        try {
          const tenant = await setupTenant(slow, fake);
          const budget = COST * 10.5;
          const key = await createKey(slow, tenant, {
            limits: { budgetUsd: budget, budgetPeriod: 'day' },
          });
          const results = await Promise.all(Array.from({ length: 50 }, () => chat(slow, key)));
          const ok = results.filter((r) => r.statusCode === 200).length;
          for (const r of results.filter((x) => x.statusCode !== 200))
            expect([429, 503]).toContain(r.statusCode);
          expect(ok).toBeLessThanOrEqual(10);
          const [row] = await spend(t.db, tenant.id, [slow]);
          expect(row?.spent ?? 0).toBeLessThanOrEqual(budget);
          expect(row?.spent ?? 0).toBeCloseTo(ok * COST, 12);
        } finally {
          await slow.close();
        }
      },
    );

    it('with Redis down, a budgeted request gets 503 in either mode and nothing is spent', async () => {
      await withDeadRedis(async (down, mode) => {
        const tenant = await setupTenant(down, fake);
        const key = await createKey(down, tenant, {
          limits: { budgetUsd: COST * 1.5, budgetPeriod: 'day' },
        });
        // With Redis configured the budget lives there alone: a fallback store could not know
        // what a timed-out script reserved, nor tell Redis what it spent meanwhile.
        for (let i = 0; i < 2; i++) {
          const res = await chat(down, key);
          expect(res.statusCode).toBe(503);
          expect(res.json()).toMatchObject({ error: { code: 'limits_unavailable' } });
        }
        const [row] = await spend(t.db, tenant.id, [down]);
        expect(row?.spent ?? 0).toBe(0);
        expect(row?.reserved ?? 0).toBe(0);
        // Fail-open still serves requests that have rate limits but no budget (next test).
        if (mode === 'open')
          expect(
            (await chat(down, await createKey(down, tenant, { limits: { rpm: 5 } }))).statusCode,
          ).toBe(200);
      });
    });

    it('fail-open falls back to local limits when Redis is down; fail-closed answers 503', async () => {
      await withDeadRedis(async (down, mode) => {
        const tenant = await setupTenant(down, fake);
        const key = await createKey(down, tenant, { limits: { rpm: 2 } });
        await awayFromWindowEdge();
        const codes: number[] = [];
        for (let i = 0; i < 3; i++) codes.push((await chat(down, key)).statusCode);
        if (mode === 'open') expect(codes).toEqual([200, 200, 429]);
        else {
          expect(codes).toEqual([503, 503, 503]);
          const res = await chat(down, key);
          expect(res.json()).toMatchObject({ error: { code: 'limits_unavailable' } });
        }
        // A key without limits never touches Redis.
        expect((await chat(down, tenant.ownerKey)).statusCode).toBe(200);
      });
    });
  },
);

const pgWithRedis = testDrivers().includes('postgres') && REDIS ? ['postgres' as const] : [];
describe.each(pgWithRedis)('budgets across two Rampart instances (%s + Redis)', (driver) => {
  let t: TestDatabase;
  let fake: FakeUpstream;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
    apps.push(await createTestApp(t.db, SETTINGS, { redisUrl: REDIS }));
    const replica = await t.openReplica();
    apps.push(await createTestApp(replica, SETTINGS, { redisUrl: REDIS }));
  });
  afterAll(async () => {
    for (const a of apps) await a.close();
    await fake?.close();
    await t?.close();
  });

  it('50 concurrent requests split over both never settle above a budget that fits 10', async () => {
    const [one, two] = apps as [TestApp, TestApp];
    const tenant = await setupTenant(one, fake);
    const budget = COST * 10.5;
    const put = await one.app.inject({
      method: 'PUT',
      url: '/v1/limits',
      headers: bearer(tenant.ownerKey),
      payload: { budgetUsd: budget, budgetPeriod: 'month' },
    });
    expect(put.statusCode).toBe(200);
    const key = await createKey(one, tenant, { limits: { rpm: 1000 } });
    await untilKeyKnown([one, two], key);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => chat(i % 2 === 0 ? one : two, key)),
    );
    const ok = results.filter((r) => r.statusCode === 200).length;
    expect(results.filter((r) => r.statusCode === 429).length).toBe(50 - ok);
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(ok).toBeLessThanOrEqual(10);
    const rows = await spend(t.db, tenant.id, apps);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.scope).toBe('tenant');
    expect(rows[0]?.spent).toBeLessThanOrEqual(budget);
    expect(rows[0]?.spent).toBeCloseTo(ok * COST, 12);
    expect(rows[0]?.reserved).toBe(0);
  });
});
