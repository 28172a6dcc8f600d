import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimited, ServiceUnavailable } from '../../platform/http/errors.js';
import { budgetExceeded, budgetKeyTtlMs, type BudgetScope } from './budgets.js';
import { LocalCounters, type AcquireResult, type Counter } from './counters.js';
import { RedisGuard } from './redis-guard.js';
import { RedisLimits, type BudgetHold } from './redis-counters.js';
import type { Limits } from './schema.js';

export interface LimitSubject {
  tenantId: string;
  keyId: string | null;
  keyLimits: Limits;
  tenantLimits: Limits;
}

/** Budgets to reserve with the counters (Redis only), and how to seed a budget Redis lost. */
export interface BudgetRequest {
  scopes: BudgetScope[];
  costTicks: number;
  reservationId: string;
  /** The durable spent ticks of each scope (Postgres), for budgets Redis does not hold. */
  durableSpent(scopes: BudgetScope[]): Promise<number[]>;
}

/** What a request holds after admission; ended exactly once when the request is over. */
export interface Lease {
  /** True when the budget reservation is held in Redis (else the caller reserves in Postgres). */
  budgetInRedis: boolean;
  /**
   * Releases concurrency, moves TPM from the estimate to `actualTokens` (undefined: keep the
   * estimate) and, when the budget is in Redis, turns the reservation into `actualTicks` of spend.
   */
  end(actualTokens: number | undefined, actualTicks: number): Promise<void>;
}

type Metric = 'requests' | 'tokens' | 'concurrency';
type MetricCounter = Counter & { metric: Metric };

function seconds(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

function budgetKey(tenantId: string, s: BudgetScope): string {
  // The {tenant} hash tag keeps one request's keys in one slot (Redis Cluster).
  return `bg:{${tenantId}}:${s.scope}:${s.scopeId}:${s.periodStart}`;
}

function countersOf(s: LimitSubject, estimatedTokens: number): MetricCounter[] {
  const counters: MetricCounter[] = [];
  const add = (scope: string, l: Limits) => {
    if (l.rpm)
      counters.push({
        kind: 'window',
        key: `${scope}:rpm`,
        limit: l.rpm,
        cost: 1,
        metric: 'requests',
      });
    if (l.tpm)
      counters.push({
        kind: 'window',
        key: `${scope}:tpm`,
        limit: l.tpm,
        cost: estimatedTokens,
        metric: 'tokens',
      });
    if (l.concurrency)
      counters.push({
        kind: 'gauge',
        key: `${scope}:conc`,
        limit: l.concurrency,
        cost: 1,
        metric: 'concurrency',
      });
  };
  if (s.keyId) add(`rl:{${s.tenantId}}:k:${s.keyId}`, s.keyLimits);
  add(`rl:{${s.tenantId}}:t`, s.tenantLimits);
  return counters;
}

/** x-ratelimit-* for the tightest counter of each kind: the one the client should pace by. */
function rateLimitHeaders(counters: MetricCounter[], r: { used: number[]; resetMs: number }) {
  const headers: Record<string, string> = {};
  for (const metric of ['requests', 'tokens'] as const) {
    let best: { limit: number; remaining: number } | undefined;
    counters.forEach((c, i) => {
      if (c.metric !== metric) return;
      const remaining = Math.max(0, c.limit - (r.used[i] ?? 0));
      if (!best || remaining < best.remaining) best = { limit: c.limit, remaining };
    });
    if (best) {
      headers[`x-ratelimit-limit-${metric}`] = String(best.limit);
      headers[`x-ratelimit-remaining-${metric}`] = String(best.remaining);
      headers[`x-ratelimit-reset-${metric}`] = seconds(r.resetMs);
    }
  }
  return headers;
}

const NO_LEASE: Lease = { budgetInRedis: false, end: () => Promise.resolve() };

/**
 * RPM, TPM and concurrency per key and per tenant, and (with Redis) budget reservations: one
 * script round trip to admit and one to settle, behind a short timeout and a circuit breaker.
 * When Redis fails, `failureMode` decides: 'open' falls back to this instance's local counters
 * and tells the caller to reserve budgets in Postgres; 'closed' answers 503.
 */
export class Limiter {
  readonly #local = new LocalCounters();
  readonly #redis: RedisLimits | undefined;
  readonly #policy: RedisGuard;

  constructor(
    private readonly opts: {
      redis: Redis | undefined;
      failureMode: 'open' | 'closed';
      redisTimeoutMs: number;
      reservationTtlMs: number;
      logger: Logger;
    },
  ) {
    this.#redis = opts.redis ? new RedisLimits(opts.redis) : undefined;
    this.#policy = new RedisGuard({ timeoutMs: opts.redisTimeoutMs, threshold: 3, openMs: 5_000 });
  }

  get usesRedis(): boolean {
    return this.#redis !== undefined;
  }

  #warn(err: unknown, msg: string): void {
    this.opts.logger.warn({ err: { message: (err as Error).message } }, msg);
  }

  /**
   * Admits the request or throws 429 rate_limited / budget_exceeded (with Retry-After and
   * x-ratelimit-* headers) or, fail-closed with Redis down, 503 limits_unavailable.
   */
  async admit(
    s: LimitSubject,
    estimatedTokens: number,
    budget: BudgetRequest | undefined,
  ): Promise<{ lease: Lease; headers: Record<string, string> }> {
    const counters = countersOf(s, estimatedTokens);
    const redis = this.#redis;
    const budgets = redis && budget ? budget.scopes : [];
    if (counters.length === 0 && budgets.length === 0) return { lease: NO_LEASE, headers: {} };
    if (redis) {
      let r: AcquireResult | { ok: false; budgetFailed: number; used: number[]; resetMs: number };
      try {
        r = await this.#redisAdmit(redis, s.tenantId, counters, budget);
      } catch (err) {
        this.#warn(err, 'redis limits unavailable');
        if (this.opts.failureMode === 'closed')
          throw new ServiceUnavailable(
            'Rate limits are unavailable; try again shortly.',
            'limits_unavailable',
          );
        return this.#admitLocal(counters, estimatedTokens);
      }
      const headers = rateLimitHeaders(counters, r);
      if (!r.ok) throw this.#refusal(counters, r, headers, budget?.scopes ?? []);
      return {
        headers,
        lease: this.#redisLease(redis, s.tenantId, counters, estimatedTokens, budget),
      };
    }
    return this.#admitLocal(counters, estimatedTokens);
  }

  async #redisAdmit(
    redis: RedisLimits,
    tenantId: string,
    counters: MetricCounter[],
    budget: BudgetRequest | undefined,
  ) {
    const holds: BudgetHold[] = (budget?.scopes ?? []).map((b) => ({
      key: budgetKey(tenantId, b),
      budgetTicks: Math.floor(b.budgetUsd * 1e10),
      costTicks: budget?.costTicks ?? 0,
      ttlMs: budgetKeyTtlMs(b.period),
    }));
    const id = budget?.reservationId ?? '';
    const ttl = this.opts.reservationTtlMs;
    let r = await this.#policy.execute(() => redis.admit(counters, holds, id, ttl));
    // A budget Redis does not hold (restart, new period): seed it from Postgres, then retry.
    for (let seeded = 0; r.missing && budget && seeded < 2; seeded++) {
      const scopes = r.missing.map((j) => budget.scopes[j] as BudgetScope);
      const spent = await budget.durableSpent(scopes);
      await this.#policy.execute(() =>
        redis.seed(
          scopes.map((b, i) => ({
            key: budgetKey(tenantId, b),
            spentTicks: spent[i] ?? 0,
            ttlMs: budgetKeyTtlMs(b.period),
          })),
        ),
      );
      r = await this.#policy.execute(() => redis.admit(counters, holds, id, ttl));
    }
    if (r.missing) throw new Error('budget could not be seeded in Redis');
    return r;
  }

  #refusal(
    counters: MetricCounter[],
    r: { ok: false; failed?: number; budgetFailed?: number; resetMs: number },
    headers: Record<string, string>,
    scopes: BudgetScope[],
  ): Error {
    if (r.budgetFailed !== undefined) {
      const scope = scopes[r.budgetFailed];
      if (scope) return budgetExceeded(scope);
    }
    const c = counters[r.failed ?? 0];
    if (c?.metric === 'concurrency')
      return new RateLimited('Too many concurrent requests for this key or tenant.', 1, headers);
    return new RateLimited(
      `Rate limit reached for ${c?.metric ?? 'requests'} per minute.`,
      r.resetMs / 1000,
      headers,
    );
  }

  #redisLease(
    redis: RedisLimits,
    tenantId: string,
    counters: MetricCounter[],
    estimatedTokens: number,
    budget: BudgetRequest | undefined,
  ): Lease {
    const held = budget?.scopes ?? [];
    return {
      budgetInRedis: budget !== undefined,
      end: async (actualTokens, actualTicks) => {
        const adjust = counters
          .filter(
            (c) => c.kind === 'gauge' || (c.metric === 'tokens' && actualTokens !== undefined),
          )
          .map((c) => ({
            kind: c.kind,
            key: c.key,
            delta: c.kind === 'gauge' ? -1 : (actualTokens ?? estimatedTokens) - estimatedTokens,
          }));
        const budgets = held.map((b) => ({
          key: budgetKey(tenantId, b),
          reservedTicks: budget?.costTicks ?? 0,
          actualTicks: Math.min(Math.max(actualTicks, 0), budget?.costTicks ?? 0),
        }));
        try {
          await this.#policy.execute(() =>
            redis.settle(adjust, budgets, budget?.reservationId ?? ''),
          );
        } catch (err) {
          // Slots come back with the gauges' safety TTL, the reservation with the reclaim sweep.
          this.#warn(err, 'redis limits settle failed');
        }
      },
    };
  }

  #admitLocal(
    counters: MetricCounter[],
    estimatedTokens: number,
  ): { lease: Lease; headers: Record<string, string> } {
    if (counters.length === 0) return { lease: NO_LEASE, headers: {} };
    const r = this.#local.acquireNow(counters);
    const headers = rateLimitHeaders(counters, r);
    if (!r.ok) throw this.#refusal(counters, r, headers, []);
    let ended = false;
    return {
      headers,
      lease: {
        budgetInRedis: false,
        end: (actualTokens) => {
          if (ended) return Promise.resolve();
          ended = true;
          const items = counters
            .filter(
              (c) => c.kind === 'gauge' || (c.metric === 'tokens' && actualTokens !== undefined),
            )
            .map((c) => ({
              kind: c.kind,
              key: c.key,
              delta: c.kind === 'gauge' ? -1 : (actualTokens ?? estimatedTokens) - estimatedTokens,
            }));
          this.#local.adjustNow(items);
          return Promise.resolve();
        },
      },
    };
  }
}
