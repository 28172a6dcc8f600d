import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from './helpers/db.js';
import { Limiter } from '../src/gateway/limits/limiter.js';
import { RedisLimits, type BudgetHold } from '../src/gateway/limits/redis-counters.js';

const REDIS = TEST_REDIS_URL;

/** A limiter on this Redis, as one Rampart instance would have it. */
function limiterOn(
  redis: Redis,
  opts: { failureMode: 'open' | 'closed'; redisTimeoutMs: number; leases?: boolean },
): Limiter {
  return new Limiter({
    redis,
    reservationTtlMs: 60_000,
    logger: pino({ level: 'silent' }),
    ...opts,
  });
}

// Real Redis only: these check the scripts themselves, which have no in-process stand-in.
describe.skipIf(!REDIS)('Redis limit scripts', () => {
  let redis: Redis;
  const prefix = `test:settle:${randomUUID()}`;

  beforeAll(() => {
    redis = new Redis(REDIS as string, { lazyConnect: false });
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('settles several requests in one script call exactly as one by one', async () => {
    const limits = new RedisLimits(redis);
    const gauge = { kind: 'gauge' as const, key: `${prefix}:conc`, limit: 10, cost: 1 };
    const tokens = { kind: 'window' as const, key: `${prefix}:tpm`, limit: 1_000_000, cost: 100 };
    const budgetKey = `${prefix}:budget`;
    await limits.seed([{ key: budgetKey, spentTicks: 0, ttlMs: 60_000 }]);
    const hold = (): BudgetHold => ({
      key: budgetKey,
      budgetTicks: 1_000_000,
      costTicks: 500,
      ttlMs: 60_000,
    });
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids) {
      const r = await limits.admit([gauge, tokens], [hold()], id, 60_000);
      expect(r).toMatchObject({ ok: true });
    }
    expect(Number(await redis.get(gauge.key))).toBe(3);
    expect(await redis.hget(budgetKey, 'reserved')).toBe('1500');

    // Actual tokens 40, 100 and 130 against the estimate of 100; spend 100, 200 and 500 ticks.
    const actual = [
      { tokens: 40, ticks: 100 },
      { tokens: 100, ticks: 200 },
      { tokens: 130, ticks: 500 },
    ];
    await limits.settle(
      ids.map((id, i) => ({
        reservationId: id,
        adjust: [
          { kind: 'gauge', key: gauge.key, delta: -1 },
          { kind: 'window', key: tokens.key, delta: (actual[i]?.tokens ?? 0) - 100 },
        ],
        budgets: [{ key: budgetKey, reservedTicks: 500, actualTicks: actual[i]?.ticks ?? 0 }],
      })),
    );
    // The released gauge is gone (0), the window holds the actual tokens, the budget the spend.
    expect(await redis.get(gauge.key)).toBeNull();
    const windowKeys = await redis.keys(`${tokens.key}:*`);
    expect(windowKeys).toHaveLength(1);
    expect(Number(await redis.get(windowKeys[0] as string))).toBe(40 + 100 + 130);
    expect(await redis.hgetall(budgetKey)).toEqual({ spent: '800', reserved: '0' });
    expect(await redis.zcard(`${budgetKey}:res`)).toBe(0);
  });

  it('sends the settles of ended requests before the next admit: a sequential client is never refused at concurrency 1', async () => {
    const limiter = limiterOn(redis, { failureMode: 'closed', redisTimeoutMs: 1_000 });
    const subject = {
      tenantId: `${prefix}-tenant`,
      keyId: `${prefix}-key`,
      keyLimits: { concurrency: 1 },
      tenantLimits: {},
    };
    for (let i = 0; i < 20; i++) {
      const { lease } = await limiter.admit(subject, 10, undefined);
      // Not awaited, as on the invoke path: the settle waits for the end of the turn.
      void lease.end(10, 0);
    }
    // And a second holder at the same time is refused: the limit itself still applies.
    const { lease } = await limiter.admit(subject, 10, undefined);
    await expect(limiter.admit(subject, 10, undefined)).rejects.toMatchObject({
      code: 'rate_limited',
    });
    await lease.end(10, 0);
  });

  it('a budget admit that times out is refused (503) even fail-open: the script may still have reserved it', async () => {
    // Every admit asks Redis (no blocks held in process, no leases): this is about that round trip.
    const limiter = limiterOn(redis, { failureMode: 'open', redisTimeoutMs: 10, leases: false });
    const tenantId = `${prefix}-slow`;
    const scope = {
      scope: 'key' as const,
      scopeId: 'k1',
      periodStart: '2026-11-23',
      period: 'day' as const,
      budgetUsd: 1,
    };
    const budget = {
      scopes: [scope],
      costTicks: 1000,
      reservationId: randomUUID(),
      durableSpent: () => Promise.resolve([0]),
    };
    const subject = { tenantId, keyId: 'k1', keyLimits: { rpm: 1000 }, tenantLimits: {} };
    // Seeded and working first.
    const first = await limiter.admit(subject, 1, budget);
    await first.lease.end(1, 1000);
    // Redis holds write commands for 40 ms (short: other test files share this Redis): the admit
    // below times out after 10 ms, and
    // its script runs when the pause ends.
    const admin = new Redis(REDIS as string);
    try {
      await admin.client('PAUSE', 40, 'WRITE');
      await expect(
        limiter.admit(subject, 1, { ...budget, reservationId: randomUUID() }),
      ).rejects.toMatchObject({ status: 503, code: 'limits_unavailable' });
    } finally {
      admin.disconnect();
    }
    // Requests without a budget are unaffected: Redis answers again once the pause is over.
    await new Promise((r) => setTimeout(r, 60));
    const plain = await limiter.admit(subject, 1, undefined);
    await plain.lease.end(1, 0);
  });
});
