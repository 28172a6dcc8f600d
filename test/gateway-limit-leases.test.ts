import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WINDOW_MS } from '../src/gateway/limits/counters.js';
import { Limiter, type BudgetRequest, type LimitSubject } from '../src/gateway/limits/limiter.js';
import type { Limits } from '../src/platform/http/limits-schema.js';
import { TEST_REDIS_URL } from './helpers/db.js';

const REDIS = TEST_REDIS_URL;
const COST_TICKS = 1_000;

/** Two limiters on one Redis are two Rampart instances, as far as limits go. */
function limiter(redis: Redis): Limiter {
  return new Limiter({
    redis,
    failureMode: 'closed',
    redisTimeoutMs: 1_000,
    reservationTtlMs: 600_000,
    logger: pino({ level: 'silent' }),
  });
}

function subject(tenantId: string, keyLimits: Limits): LimitSubject {
  return { tenantId, keyId: 'key-1', keyLimits, tenantLimits: {} };
}

function budgetOf(usd: number): BudgetRequest {
  return {
    scopes: [
      { scope: 'key', scopeId: 'key-1', periodStart: '2026-11-23', period: 'day', budgetUsd: usd },
    ],
    costTicks: COST_TICKS,
    reservationId: randomUUID(),
    durableSpent: () => Promise.resolve([0]),
  };
}

/** Not within 8 s of the end of a rate-limit window: the test's counts stay in one window. */
async function awayFromWindowEdge(): Promise<void> {
  const left = WINDOW_MS - (Date.now() % WINDOW_MS);
  if (left < 8_000) await new Promise((r) => setTimeout(r, left + 100));
}

const tick = () => new Promise((r) => setImmediate(r));

describe.skipIf(!REDIS)('rate-limit and budget leases (Redis)', () => {
  let redis: Redis;
  const tenants: string[] = [];
  const tenant = (): string => {
    const id = `lease-test-${randomUUID()}`;
    tenants.push(id);
    return id;
  };

  beforeAll(() => {
    redis = new Redis(REDIS as string);
  });
  afterAll(async () => {
    for (const t of tenants) {
      const keys = await redis.keys(`*{${t}}*`);
      if (keys.length) await redis.del(...keys);
    }
    redis.disconnect();
  });

  async function windowCount(tenantId: string, metric: 'rpm' | 'tpm'): Promise<number> {
    const keys = await redis.keys(`rl:{${tenantId}}:k:key-1:${metric}:*`);
    let n = 0;
    for (const k of keys) n += Number(await redis.get(k));
    return n;
  }

  it('far from every limit, requests are admitted from leases; flushed, Redis holds exactly what they used', async () => {
    await awayFromWindowEdge();
    const l = limiter(redis);
    const t = tenant();
    const s = subject(t, { rpm: 1_000_000, tpm: 1_000_000_000, concurrency: 1_000 });
    let actualTicks = 0;
    for (let i = 0; i < 300; i++) {
      const { lease, headers } = await l.admit(s, 10, budgetOf(1));
      expect(headers['x-ratelimit-limit-requests']).toBe('1000000');
      // Actual tokens 7 against the estimate of 10; actual cost below the reservation.
      await lease.end(7, 600);
      actualTicks += 600;
      await tick();
    }
    const { leased, redis: scripted } = l.admissions;
    expect(leased + scripted).toBe(300);
    expect(leased).toBeGreaterThan(250);
    await l.flush();
    expect(await windowCount(t, 'rpm')).toBe(300);
    expect(await windowCount(t, 'tpm')).toBe(300 * 7);
    expect(await redis.get(`rl:{${t}}:k:key-1:conc`)).toBeNull();
    const hash = `bg:{${t}}:key:key-1:2026-11-23`;
    expect(await redis.hgetall(hash)).toEqual({ spent: String(actualTicks), reserved: '0' });
    expect(await redis.zcard(`${hash}:res`)).toBe(0);
    l.close();
  });

  it('two instances together never admit more than the rpm, and give back what they did not use', async () => {
    await awayFromWindowEdge();
    const [a, b] = [limiter(redis), limiter(redis)];
    const t = tenant();
    const s = subject(t, { rpm: 600 });
    let admitted = 0;
    for (let wave = 0; wave < 30; wave++) {
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).admit(s, 1, undefined)),
      );
      for (const r of results)
        if (r.status === 'fulfilled') {
          admitted++;
          await r.value.lease.end(1, 0);
        } else expect(r.reason).toMatchObject({ code: 'rate_limited' });
      await tick();
    }
    expect(a.admissions.leased + b.admissions.leased).toBeGreaterThan(0);
    expect(admitted).toBeLessThanOrEqual(600);
    // Units a lease held back are the only shortfall; leases never exceed an eighth of what is left.
    expect(admitted).toBeGreaterThanOrEqual(500);
    await a.flush();
    await b.flush();
    expect(await windowCount(t, 'rpm')).toBe(admitted);
    a.close();
    b.close();
  });

  it('two instances never settle above a budget, with leases held on both', async () => {
    const [a, b] = [limiter(redis), limiter(redis)];
    const t = tenant();
    // Room for exactly 1,000 requests at the reservation; each settles its full reservation.
    const usd = (1_000 * COST_TICKS) / 1e10;
    const s = subject(t, {});
    let admitted = 0;
    for (let wave = 0; wave < 30; wave++) {
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).admit(s, 1, budgetOf(usd))),
      );
      for (const r of results)
        if (r.status === 'fulfilled') {
          admitted++;
          await r.value.lease.end(1, COST_TICKS);
        } else expect(r.reason).toMatchObject({ code: 'budget_exceeded' });
      await tick();
    }
    expect(a.admissions.leased + b.admissions.leased).toBeGreaterThan(0);
    expect(admitted).toBeLessThanOrEqual(1_000);
    expect(admitted).toBeGreaterThanOrEqual(900);
    await a.flush();
    await b.flush();
    const hash = `bg:{${t}}:key:key-1:2026-11-23`;
    expect(await redis.hgetall(hash)).toEqual({
      spent: String(admitted * COST_TICKS),
      reserved: '0',
    });
    a.close();
    b.close();
  });

  it('two instances never hold more concurrent requests than the limit', async () => {
    const [a, b] = [limiter(redis), limiter(redis)];
    const t = tenant();
    const s = subject(t, { concurrency: 64 });
    const held: { end(tokens: number | undefined, ticks: number): Promise<void> }[] = [];
    // Warm up leases on both, then hold as many as each will give.
    for (let i = 0; i < 20; i++) {
      const r = await (i % 2 ? a : b).admit(s, 1, undefined);
      await r.lease.end(1, 0);
      await tick();
    }
    for (let wave = 0; wave < 6; wave++) {
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).admit(s, 1, undefined)),
      );
      for (const r of results)
        if (r.status === 'fulfilled') held.push(r.value.lease);
        else expect(r.reason).toMatchObject({ code: 'rate_limited' });
      await tick();
    }
    expect(held.length).toBeLessThanOrEqual(64);
    expect(held.length).toBeGreaterThanOrEqual(48);
    for (const h of held) await h.end(1, 0);
    await a.flush();
    await b.flush();
    expect(Number((await redis.get(`rl:{${t}}:k:key-1:conc`)) ?? 0)).toBe(0);
    a.close();
    b.close();
  });

  it('gives an idle lease back by itself, without a flush', async () => {
    await awayFromWindowEdge();
    const l = limiter(redis);
    const t = tenant();
    const s = subject(t, { rpm: 100_000 });
    for (let i = 0; i < 20; i++) {
      const { lease } = await l.admit(s, 1, undefined);
      await lease.end(1, 0);
      await tick();
    }
    expect(await windowCount(t, 'rpm')).toBeGreaterThan(20);
    // Unused for 2 s, the next sweep (every 0.5 s) gives the rest back.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await windowCount(t, 'rpm')).toBe(20);
    l.close();
  });
});
