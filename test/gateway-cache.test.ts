import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';
import { tenantWithFakeProvider } from './helpers/gateway-setup.js';

const MASTER_KEY = Buffer.alloc(32, 9).toString('base64');
const REDIS = process.env.TEST_REDIS_URL;
/** Nothing listens here: a Redis that is down. */
const DEAD_REDIS = 'redis://127.0.0.1:6391';
const backends = REDIS ? (['memory', 'redis'] as const) : (['memory'] as const);
// 'echo: …' answers; with max_tokens 4 and a price on output tokens only, a 3-word question
// costs exactly its reservation: 4 output tokens at $1 per million.
const COST = 4 / 1e6;

type Tenant = { id: string; ownerKey: string };

async function setupTenant(app: TestApp, fake: FakeUpstream): Promise<Tenant> {
  const { tenant: t, send } = await tenantWithFakeProvider(app, fake);
  const target = (model: string) => [{ provider: 'main', model, weight: 1 }];
  await send('POST', '/v1/routes', {
    alias: 'cached',
    targets: target('priced-model'),
    cache: { ttlSeconds: 60 },
  });
  await send('POST', '/v1/routes', { alias: 'plain', targets: target('priced-model') });
  await send('POST', '/v1/routes', {
    alias: 'rejects',
    targets: target('reject-400'),
    cache: { ttlSeconds: 60 },
  });
  await send('POST', '/v1/routes', {
    alias: 'embed',
    targets: target('text-embedding-3-small'),
    cache: { ttlSeconds: 60 },
  });
  await send('PUT', '/v1/prices/priced-model', { input: 0, output: 1, cachedInput: 0 });
  return t;
}

describe.each(testDrivers().flatMap((d) => backends.map((b) => [d, b] as const)))(
  'gateway response cache (%s, %s)',
  (driver, backend) => {
    let t: TestDatabase;
    let app: TestApp;
    let fake: FakeUpstream;
    let a: Tenant;
    let b: Tenant;
    let budgeted: { id: string; secret: string };
    let n = 0;
    /** A question no other test (or earlier run against the same Redis) has asked. */
    const fresh = () => `q${++n} ${Date.now().toString(36)} ${Math.random().toString(36)}`;

    function chat(
      key: string,
      body: Record<string, unknown>,
      headers: Record<string, string> = {},
    ) {
      return app.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: { ...bearer(key), ...headers },
        payload: { max_tokens: 4, ...body },
      });
    }
    const ask = (text: string) => [{ role: 'user', content: text }];
    const upstreamCalls = (text: string) =>
      fake.requests.filter((r) => JSON.stringify(r.body).includes(text)).length;

    async function usageRows(tenantId: string, requestIds: string[]) {
      await app.gateway.usage.flush();
      return t.asOwner(async (q) => {
        const { rows } = await q.query<{
          request_id: string;
          cache_hit: boolean;
          cost_usd: string | null;
          provider: string | null;
          target_model: string | null;
          completion_tokens: number;
          upstream_latency_ms: number | null;
        }>(
          `SELECT request_id, cache_hit, cost_usd::text, provider, target_model,
                  completion_tokens, upstream_latency_ms
             FROM usage_events WHERE tenant_id = $1 AND request_id = ANY($2::text[])`,
          [tenantId, requestIds],
        );
        return requestIds.map((id) => rows.find((r) => r.request_id === id));
      });
    }

    beforeAll(async () => {
      t = await createTestDatabase(driver);
      fake = await startFakeOpenAI();
      app = await createTestApp(
        t.db,
        // A busy test machine can take longer than the default 50 ms for a Redis read, which
        // would (rightly) count as a miss and pause Redis use; these tests are about hits.
        { RAMPART_MASTER_KEY: MASTER_KEY, GATEWAY_CACHE_REDIS_TIMEOUT_MS: '2000' },
        { redisUrl: backend === 'redis' ? REDIS : undefined },
      );
      a = await setupTenant(app, fake);
      b = await setupTenant(app, fake);
      // Created before any request of the tenant, so no cached configuration predates it.
      const key = await app.app.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: bearer(a.ownerKey),
        payload: {
          name: 'budgeted',
          role: 'member',
          limits: { budgetUsd: 1, budgetPeriod: 'day' },
        },
      });
      expect(key.statusCode, key.body).toBe(201);
      budgeted = key.json<{ id: string; secret: string }>();
    });
    afterAll(async () => {
      await app?.close();
      await fake?.close();
      await t?.close();
    });

    it('a route with a cache answers the same request from the cache, once asked upstream', async () => {
      const q = fresh();
      const first = await chat(a.ownerKey, { model: 'cached', messages: ask(q) });
      expect(first.statusCode, first.body).toBe(200);
      expect(first.headers['x-rampart-cache']).toBe('miss');
      // Same request, keys in another order and a different end-user id: the same entry.
      const second = await chat(a.ownerKey, { messages: ask(q), model: 'cached', user: 'u-2' });
      expect(second.statusCode, second.body).toBe(200);
      expect(second.headers['x-rampart-cache']).toBe('hit');
      expect(second.json()).toEqual(first.json());
      expect(upstreamCalls(q)).toBe(1);
      // A different parameter is a different request.
      const other = await chat(a.ownerKey, { model: 'cached', messages: ask(q), temperature: 0.5 });
      expect(other.headers['x-rampart-cache']).toBe('miss');
      expect(upstreamCalls(q)).toBe(2);
    });

    it("never serves one tenant's entry to another, for the very same request", async () => {
      const q = fresh();
      const mine = await chat(a.ownerKey, { model: 'cached', messages: ask(q) });
      expect(mine.headers['x-rampart-cache']).toBe('miss');
      expect((await chat(a.ownerKey, { model: 'cached', messages: ask(q) })).headers).toMatchObject(
        { 'x-rampart-cache': 'hit' },
      );
      const theirs = await chat(b.ownerKey, { model: 'cached', messages: ask(q) });
      expect(theirs.statusCode).toBe(200);
      expect(theirs.headers['x-rampart-cache']).toBe('miss');
      expect(theirs.json<{ id: string }>().id).not.toBe(mine.json<{ id: string }>().id);
      expect(upstreamCalls(q)).toBe(2);
    });

    it('records a hit in usage as cache_hit with zero cost and no upstream latency', async () => {
      const q = fresh();
      const miss = await chat(a.ownerKey, { model: 'cached', messages: ask(q) });
      const hit = await chat(a.ownerKey, { model: 'cached', messages: ask(q) });
      expect(hit.headers['x-rampart-cache']).toBe('hit');
      const [m, h] = await usageRows(a.id, [
        String(miss.headers['x-request-id']),
        String(hit.headers['x-request-id']),
      ]);
      expect(m).toMatchObject({ cache_hit: false, provider: 'main', target_model: 'priced-model' });
      expect(Number(m?.cost_usd)).toBeCloseTo(COST, 12);
      expect(h).toMatchObject({
        cache_hit: true,
        provider: 'main',
        target_model: 'priced-model',
        completion_tokens: 0,
        upstream_latency_ms: 0,
      });
      expect(Number(h?.cost_usd)).toBe(0);
    });

    it('does not charge the budget for a hit', async () => {
      const { id: keyId, secret } = budgeted;
      const q = fresh();
      expect((await chat(secret, { model: 'cached', messages: ask(q) })).headers).toMatchObject({
        'x-rampart-cache': 'miss',
      });
      for (let i = 0; i < 3; i++)
        expect((await chat(secret, { model: 'cached', messages: ask(q) })).headers).toMatchObject({
          'x-rampart-cache': 'hit',
        });
      await app.gateway.limits.flush();
      const rows = await t.asOwner(async (q2) => {
        const r = await q2.query<{ spent_usd: string; reserved_usd: string }>(
          `SELECT spent_usd::text, reserved_usd::text FROM budget_spend
            WHERE tenant_id = $1 AND scope = 'key' AND scope_id = $2`,
          [a.id, keyId],
        );
        return r.rows;
      });
      expect(rows).toHaveLength(1);
      expect(Number(rows[0]?.spent_usd)).toBeCloseTo(COST, 12);
      expect(Number(rows[0]?.reserved_usd)).toBe(0);
    });

    it('follows the request headers: off skips the cache, on (with a TTL) uses it on any route', async () => {
      const q = fresh();
      const off = { 'x-rampart-cache': 'off' };
      for (let i = 0; i < 2; i++) {
        const r = await chat(a.ownerKey, { model: 'cached', messages: ask(q) }, off);
        expect(r.statusCode).toBe(200);
        expect(r.headers['x-rampart-cache']).toBeUndefined();
      }
      expect(upstreamCalls(q)).toBe(2);

      const p = fresh();
      const plain = await chat(a.ownerKey, { model: 'plain', messages: ask(p) });
      expect(plain.headers['x-rampart-cache']).toBeUndefined();
      const on = { 'x-rampart-cache': 'on', 'x-rampart-cache-ttl': '1' };
      expect(
        (await chat(a.ownerKey, { model: 'plain', messages: ask(p) }, on)).headers,
      ).toMatchObject({ 'x-rampart-cache': 'miss' });
      expect(
        (await chat(a.ownerKey, { model: 'plain', messages: ask(p) }, on)).headers,
      ).toMatchObject({ 'x-rampart-cache': 'hit' });
      expect(upstreamCalls(p)).toBe(2);
      // The entry lived one second.
      await new Promise((r) => setTimeout(r, 1_100));
      const expired = await chat(a.ownerKey, { model: 'plain', messages: ask(p) }, on);
      expect(expired.headers['x-rampart-cache']).toBe('miss');
      expect(upstreamCalls(p)).toBe(3);

      const bad = await chat(
        a.ownerKey,
        { model: 'plain', messages: ask(p) },
        { 'x-rampart-cache': 'maybe' },
      );
      expect(bad.statusCode).toBe(400);
    });

    it('never caches a stream or an error', async () => {
      const q = fresh();
      for (let i = 0; i < 2; i++) {
        const r = await chat(a.ownerKey, { model: 'cached', messages: ask(q), stream: true });
        expect(r.statusCode).toBe(200);
        expect(r.body).toContain('data: [DONE]');
        expect(r.headers['x-rampart-cache']).toBeUndefined();
      }
      expect(upstreamCalls(q)).toBe(2);
      const e = fresh();
      for (let i = 0; i < 2; i++) {
        const r = await chat(a.ownerKey, { model: 'rejects', messages: ask(e) });
        expect(r.statusCode).toBe(400);
      }
      expect(upstreamCalls(e)).toBe(2);
    });

    it('shows the route cache setting; PUT without it turns caching off; bad TTLs are refused', async () => {
      const h = bearer(b.ownerKey);
      const got = await app.app.inject({ method: 'GET', url: '/v1/routes/cached', headers: h });
      expect(got.json()).toMatchObject({ alias: 'cached', cache: { ttlSeconds: 60 } });
      const bad = await app.app.inject({
        method: 'PUT',
        url: '/v1/routes/cached',
        headers: h,
        payload: {
          targets: [{ provider: 'main', model: 'priced-model' }],
          cache: { ttlSeconds: 0 },
        },
      });
      expect(bad.statusCode).toBe(400);
      const put = await app.app.inject({
        method: 'PUT',
        url: '/v1/routes/cached',
        headers: h,
        payload: { targets: [{ provider: 'main', model: 'priced-model' }] },
      });
      expect(put.statusCode, put.body).toBe(200);
      expect(put.json()).toMatchObject({ cache: null });
      const q = fresh();
      for (let i = 0; i < 2; i++)
        expect(
          (await chat(b.ownerKey, { model: 'cached', messages: ask(q) })).headers,
        ).not.toHaveProperty('x-rampart-cache');
      expect(upstreamCalls(q)).toBe(2);
    });

    it('caches embeddings the same way', async () => {
      const input = [fresh(), 'second text'];
      const call = () =>
        app.app.inject({
          method: 'POST',
          url: '/v1/embeddings',
          headers: bearer(a.ownerKey),
          payload: { model: 'embed', input },
        });
      const first = await call();
      expect(first.statusCode, first.body).toBe(200);
      expect(first.headers['x-rampart-cache']).toBe('miss');
      const second = await call();
      expect(second.headers['x-rampart-cache']).toBe('hit');
      expect(second.json()).toEqual(first.json());
      expect(upstreamCalls(input[0] as string)).toBe(1);
    });
  },
);

describe('gateway response cache with Redis down', () => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: FakeUpstream;

  beforeAll(async () => {
    t = await createTestDatabase('pglite');
    fake = await startFakeOpenAI();
    app = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY }, { redisUrl: DEAD_REDIS });
  });
  afterAll(async () => {
    await app?.close();
    await fake?.close();
    await t?.close();
  });

  it('treats an unreachable Redis as a miss: the request is answered, not failed or held', async () => {
    const tenant = await setupTenant(app, fake);
    for (let i = 0; i < 2; i++) {
      const r = await app.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: bearer(tenant.ownerKey),
        payload: { model: 'cached', messages: [{ role: 'user', content: 'redis is down' }] },
      });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.headers['x-rampart-cache']).toBe('miss');
    }
    expect(fake.requests.filter((r) => r.url === '/v1/chat/completions')).toHaveLength(2);
  });
});
