import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/platform/db/database.js';
import type { Principal } from '../src/platform/http/principal.js';
import { periodStart } from '../src/gateway/limits/budgets.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 42).toString('base64');
// Budgeted requests Redis does not answer in time get 503: a generous timeout keeps a busy test
// machine from turning into refusals (these tests are about reclaiming, not about timeouts).
const SETTINGS = { RAMPART_MASTER_KEY: MASTER_KEY, RATE_LIMIT_REDIS_TIMEOUT_MS: '2000' };
const REDIS = process.env.TEST_REDIS_URL;
// Without Redis, budgets are held in process on the embedded database and in Postgres on
// PostgreSQL (see expectedStore).
const backends = REDIS ? (['no Redis', 'Redis'] as const) : (['no Redis'] as const);

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

/** Reservation rows in Postgres: the Postgres path writes one per budget in flight, no other does. */
async function reservationRows(db: Database, tenantId: string): Promise<number> {
  const { rows } = await db.withTenant({ tenantId, groups: [] }, (tx) =>
    tx.query<{ n: string }>(`SELECT count(*)::text AS n FROM budget_reservations`),
  );
  return Number(rows[0]?.n ?? 0);
}

/** Where the budgets of an app on this driver and Redis setting are held. */
function expectedStore(driver: string, redisUrl: string | undefined) {
  if (redisUrl) return 'redis';
  return driver === 'pglite' ? 'in-process' : 'postgres';
}

/** A new tenant and a member key with a daily budget of `usd`, as the principal of that key. */
async function budgetedKey(
  app: TestApp,
  usd: number,
  limits: Record<string, number> = {},
): Promise<Principal> {
  const tenant = await app.createTenant();
  const res = await app.app.inject({
    method: 'POST',
    url: '/v1/api-keys',
    headers: bearer(tenant.ownerKey),
    payload: {
      name: 'b',
      role: 'member',
      limits: { budgetUsd: usd, budgetPeriod: 'day', ...limits },
    },
  });
  expect(res.statusCode, res.body).toBe(201);
  return {
    kind: 'api_key',
    tenantId: tenant.id,
    tenantSlug: tenant.slug,
    userId: null,
    keyId: (res.json() as { id: string }).id,
    role: 'member',
    permissions: new Set(['gateway:invoke']),
    groups: [],
  };
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
    const redisUrl = backend === 'Redis' ? REDIS : undefined;

    beforeAll(async () => {
      t = await createTestDatabase(driver);
      fake = await startFakeOpenAI();
      steady = await createTestApp(t.db, SETTINGS, { redisUrl });
      // Another replica whose reservation TTL is 1 ms: any reservation it sees is expired.
      const replica = driver === 'postgres' ? await t.openReplica() : t.db;
      sweeper = await createTestApp(
        replica,
        { ...SETTINGS, GATEWAY_BUDGET_RESERVATION_TTL_MS: '1' },
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
      const principal = await budgetedKey(steady, COST * 1.5);
      const tenantId = principal.tenantId;
      const keyId = principal.keyId as string;

      // On the embedded database without Redis both apps share the in-process budgets (one
      // process alone can open it), as replicas share Redis: no Postgres row per reservation.
      const store = expectedStore(driver, redisUrl);
      expect(steady.gateway.limits.budgetStore).toBe(store);
      expect(sweeper.gateway.limits.budgetStore).toBe(store);
      // A request is admitted, then its replica "dies": the admission is never ended.
      const orphan = await steady.gateway.limits.admit(principal, REQ, TARGETS);
      expect(await reservationRows(t.db, tenantId)).toBe(store === 'postgres' ? 1 : 0);
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
      const row = await durable(t.db, tenantId);
      expect(row.spent).toBeCloseTo(2 * COST, 12);
      expect(row.reserved).toBe(0);
      if (redisUrl) {
        const h = await steady.redis?.hgetall(
          `bg:{${tenantId}}:key:${keyId}:${periodStart('day')}`,
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
    app = await createTestApp(t.db, SETTINGS, { redisUrl: REDIS });
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

describe.each(testDrivers())('budgets without Redis (%s)', (driver) => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a new app on the same database sees the spend the closed one settled', async () => {
    const first = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY });
    expect(first.gateway.limits.budgetStore).toBe(expectedStore(driver, undefined));
    // Room for exactly three requests; two are spent before the "restart".
    const principal = await budgetedKey(first, COST * 3.5);
    for (let i = 0; i < 2; i++) {
      const a = await first.gateway.limits.admit(principal, REQ, TARGETS);
      await a.end(USAGE, 'priced-model');
    }
    // Closing writes the batched spend and lets go of the in-process budgets: the next app
    // seeds them from Postgres, as a new process on the same data directory would.
    await first.close();
    const before = await durable(t.db, principal.tenantId);
    expect(before.spent).toBeCloseTo(2 * COST, 12);
    expect(before.reserved).toBe(0);
    const second = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY });
    try {
      const third = await second.gateway.limits.admit(principal, REQ, TARGETS);
      expect(await rejection(second.gateway.limits.admit(principal, REQ, TARGETS))).toBe(
        'budget_exceeded',
      );
      await third.end(USAGE, 'priced-model');
      await second.gateway.limits.flush();
      const row = await durable(t.db, principal.tenantId);
      expect(row.spent).toBeCloseTo(3 * COST, 12);
      expect(row.reserved).toBe(0);
    } finally {
      await second.close();
    }
  });

  it('a request another limit refuses holds none of the budget', async () => {
    const app = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY });
    try {
      // In process the budget is held before the counters are checked: a refusal by the
      // concurrency limit must give it back, or the third request below would not fit.
      const principal = await budgetedKey(app, COST * 2.5, { concurrency: 1 });
      const first = await app.gateway.limits.admit(principal, REQ, TARGETS);
      expect(await rejection(app.gateway.limits.admit(principal, REQ, TARGETS))).toBe(
        'rate_limited',
      );
      await first.end(USAGE, 'priced-model');
      const third = await app.gateway.limits.admit(principal, REQ, TARGETS);
      await third.end(USAGE, 'priced-model');
      await app.gateway.limits.flush();
      const row = await durable(t.db, principal.tenantId);
      expect(row.spent).toBeCloseTo(2 * COST, 12);
      expect(row.reserved).toBe(0);
      expect(await reservationRows(t.db, principal.tenantId)).toBe(0);
    } finally {
      await app.close();
    }
  });
});
