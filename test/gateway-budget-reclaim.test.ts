import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/platform/db/database.js';
import type { Principal } from '../src/platform/http/principal.js';
import { periodStart } from '../src/gateway/limits/budgets.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 42).toString('base64');
const REDIS = process.env.TEST_REDIS_URL;
const backends = REDIS
  ? (['postgres budgets', 'redis budgets'] as const)
  : (['postgres budgets'] as const);

// Output tokens only are priced, and the request asks for exactly OUT tokens: the reservation
// and the settled cost are both COST, and a budget of 1.5 × COST fits one request in flight.
const OUT = 4;
const PRICE = { input: 0, output: 1, cachedInput: 0 };
const COST = (OUT * PRICE.output) / 1e6;
const TARGETS = [{ model: 'priced-model', price: PRICE }];
const REQ = {
  model: 'fast',
  input: { messages: [{ role: 'user', content: 'hi' }] },
  maxTokens: OUT,
};
const USAGE = { promptTokens: 2, completionTokens: OUT, cachedTokens: 0 };

async function durable(db: Database, tenantId: string) {
  const { rows } = await db.withTenant({ tenantId, groups: [] }, (tx) =>
    tx.query<{ spent_usd: string; reserved_usd: string }>(
      `SELECT spent_usd, reserved_usd FROM budget_spend WHERE scope = 'key'`,
    ),
  );
  return { spent: Number(rows[0]?.spent_usd ?? 0), reserved: Number(rows[0]?.reserved_usd ?? 0) };
}

async function rejection(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

describe.each(testDrivers().flatMap((d) => backends.map((b) => [d, b] as const)))(
  'budget reservations of a dead replica are reclaimed (%s, %s)',
  (driver, backend) => {
    let t: TestDatabase;
    let fake: FakeUpstream;
    let steady: TestApp;
    let sweeper: TestApp;
    const redisUrl = backend === 'redis budgets' ? REDIS : undefined;

    beforeAll(async () => {
      t = await createTestDatabase(driver);
      fake = await startFakeOpenAI();
      steady = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY }, { redisUrl });
      // Another replica whose reservation TTL is 1 ms: any reservation it sees is expired.
      const replica = driver === 'postgres' ? await t.openReplica() : t.db;
      sweeper = await createTestApp(
        replica,
        { RAMPART_MASTER_KEY: MASTER_KEY, GATEWAY_BUDGET_RESERVATION_TTL_MS: '1' },
        { redisUrl },
      );
    });
    afterAll(async () => {
      await sweeper?.close();
      await steady?.close();
      await fake?.close();
      await t?.close();
    });

    it('frees the budget a crashed request held, and a late settle still charges once', async () => {
      const tenant = await steady.createTenant();
      const res = await steady.app.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: bearer(tenant.ownerKey),
        payload: {
          name: 'b',
          role: 'member',
          limits: { budgetUsd: COST * 1.5, budgetPeriod: 'day' },
        },
      });
      expect(res.statusCode, res.body).toBe(201);
      const keyId = (res.json() as { id: string }).id;
      const principal: Principal = {
        kind: 'api_key',
        tenantId: tenant.id,
        tenantSlug: tenant.slug,
        userId: null,
        keyId,
        role: 'member',
        permissions: new Set(['gateway:invoke']),
        groups: [],
      };

      // A request is admitted, then its replica "dies": the admission is never ended.
      const orphan = await steady.gateway.limits.admit(principal, REQ, TARGETS);
      expect(await rejection(steady.gateway.limits.admit(principal, REQ, TARGETS))).toBe(
        'budget_exceeded',
      );
      // Long enough that the orphan is older than the sweeper's 1 ms TTL.
      await new Promise((r) => setTimeout(r, 20));
      const next = await sweeper.gateway.limits.admit(principal, REQ, TARGETS);
      await next.end(USAGE, 'priced-model');
      // The "dead" request's settle arrives after all (a slow replica, not a dead one): its
      // reservation was reclaimed, so only its actual cost is added, once.
      await orphan.end(USAGE, 'priced-model');
      await orphan.end(USAGE, 'priced-model');
      await steady.gateway.limits.flush();
      await sweeper.gateway.limits.flush();
      const row = await durable(t.db, tenant.id);
      expect(row.spent).toBeCloseTo(2 * COST, 12);
      expect(row.reserved).toBe(0);
      if (redisUrl) {
        const h = await steady.redis?.hgetall(
          `bg:{${tenant.id}}:key:${keyId}:${periodStart('day')}`,
        );
        expect(h).toEqual({ spent: String(2 * COST * 1e10), reserved: '0' });
      }
      // Spent 2 × COST of a 1.5 × COST budget (the late settle overshot by design: actual cost
      // is always charged): nothing more is admitted.
      expect(await rejection(sweeper.gateway.limits.admit(principal, REQ, TARGETS))).toBe(
        'budget_exceeded',
      );
    });
  },
);

const pgWithRedis = REDIS ? testDrivers() : [];
describe.each(pgWithRedis)('budgets after Redis loses them (%s + Redis)', (driver) => {
  let t: TestDatabase;
  let fake: FakeUpstream;
  let app: TestApp;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
    app = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY }, { redisUrl: REDIS });
  });
  afterAll(async () => {
    await app?.close();
    await fake?.close();
    await t?.close();
  });

  it('seeds a budget Redis no longer holds from the durable spend in Postgres', async () => {
    const tenant = await app.createTenant();
    const h = bearer(tenant.ownerKey);
    const setup = [
      [
        'POST',
        '/v1/providers',
        { name: 'main', type: 'openai', baseUrl: fake.baseUrl, apiKey: 'k' },
      ],
      [
        'POST',
        '/v1/routes',
        { alias: 'fast', targets: [{ provider: 'main', model: 'priced-model', weight: 1 }] },
      ],
      ['PUT', '/v1/prices/priced-model', PRICE],
      ['PUT', '/v1/limits', { budgetUsd: COST * 2.5, budgetPeriod: 'month' }],
    ] as const;
    for (const [method, url, payload] of setup) {
      const res = await app.app.inject({ method, url, headers: h, payload });
      expect(res.statusCode, res.body).toBeLessThan(300);
    }
    const chat = () =>
      app.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: h,
        // The fake answers "echo: a b c": OUT completion tokens, so each call costs COST.
        payload: { model: 'fast', messages: [{ role: 'user', content: 'a b c' }], max_tokens: OUT },
      });
    expect((await chat()).statusCode).toBe(200);
    expect((await chat()).statusCode).toBe(200);
    await app.gateway.limits.flush();
    // Redis restarts empty (it keeps nothing on disk).
    const hash = `bg:{${tenant.id}}:tenant:${tenant.id}:${periodStart('month')}`;
    expect(await app.redis?.del(hash, `${hash}:res`)).toBe(1);
    const third = await chat();
    expect(third.statusCode).toBe(429);
    expect(third.json()).toMatchObject({ error: { code: 'budget_exceeded' } });
    expect(await app.redis?.hget(hash, 'spent')).toBe(String(2 * COST * 1e10));
  });
});
