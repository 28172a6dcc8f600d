import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimited, ServiceUnavailable } from '../../platform/http/errors.js';
import { budgetExceeded, type BudgetScope } from './budgets.js';
import { LocalCounters, type AcquireResult } from './counters.js';
import {
  budgetKey,
  countersOf,
  holdsOf,
  releaseOf,
  rateLimitHeaders,
  type BudgetRequest,
  type LimitSubject,
  type MetricCounter,
} from './limit-plan.js';
import type { LocalBudgets, LocalHold } from './local-budgets.js';
import { LeaseBook } from './leases.js';
import { RedisGuard } from './redis-guard.js';
import { RedisLimits, type BudgetHold, type Settle } from './redis-counters.js';

export type { BudgetHold } from './redis-counters.js';
import { at } from '../../platform/checked.js';

export type { BudgetRequest, LimitSubject } from './limit-plan.js';

/** What a request holds after admission; ended exactly once when the request is over. */
export interface Lease {
  /**
   * True when the limiter holds the budget reservation (Redis, or in process): end() settles it
   * and the caller only records the spend. Else the caller reserves in Postgres.
   */
  budgetHeld: boolean;
  /**
   * Releases concurrency, moves TPM from the estimate to `actualTokens` (undefined: keep the
   * estimate) and, when the budget is held here, turns the reservation into `actualTicks` of spend.
   */
  end(actualTokens: number | undefined, actualTicks: number): Promise<void>;
}

const NO_LEASE: Lease = { budgetHeld: false, end: () => Promise.resolve() };

/**
 * RPM, TPM and concurrency per key and per tenant, and (with Redis) budget reservations: one
 * script round trip to admit and one to settle, behind a short timeout and a circuit breaker.
 * When Redis fails, `failureMode` decides for rate limits: 'open' falls back to this instance's
 * local counters, 'closed' answers 503; a request with a budget gets 503 either way (with Redis,
 * budgets live in Redis alone, so they never settle above the budget). Without Redis,
 * `localBudgets` (given only on the embedded database, which one process alone can open) holds
 * budgets in process with the scripts' semantics; else the caller reserves them in Postgres.
 */
export class Limiter {
  readonly #local = new LocalCounters();
  readonly #redis: RedisLimits | undefined;
  readonly #policy: RedisGuard;
  /** Settles waiting for this turn of the event loop to end (see #settle). */
  #settles: { settle: Settle; done: () => void }[] = [];
  readonly #sending = new Set<Promise<void>>();
  readonly #leases: LeaseBook | undefined;
  readonly #admissions = { leased: 0, redis: 0 };

  constructor(
    private readonly opts: {
      redis: Redis | undefined;
      failureMode: 'open' | 'closed';
      redisTimeoutMs: number;
      reservationTtlMs: number;
      logger: Logger;
      localBudgets?: LocalBudgets | undefined;
      /** Admit from blocks granted by Redis while limits are far (leases.ts); default true. */
      leases?: boolean | undefined;
    },
  ) {
    const redis = opts.redis ? new RedisLimits(opts.redis) : undefined;
    this.#redis = redis;
    this.#policy = new RedisGuard({ timeoutMs: opts.redisTimeoutMs, threshold: 3, openMs: 5_000 });
    this.#leases =
      redis && opts.leases !== false
        ? new LeaseBook({
            redis,
            guard: (fn) => this.#policy.execute(fn),
            adjust: (settle) => void this.#settle(redis, settle),
            logger: opts.logger,
          })
        : undefined;
  }

  /** How many requests were admitted from leases and how many by a Redis script (tests, bench). */
  get admissions(): { leased: number; redis: number } {
    return { ...this.#admissions };
  }

  get usesRedis(): boolean {
    return this.#redis !== undefined;
  }

  /** Where budget reservations are held when the store is healthy. */
  get budgetStore(): 'redis' | 'in-process' | 'postgres' {
    if (this.#redis) return 'redis';
    return this.opts.localBudgets ? 'in-process' : 'postgres';
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
    const local = redis ? undefined : this.opts.localBudgets;
    const budgets = (redis || local) && budget ? budget.scopes : [];
    if (counters.length === 0 && budgets.length === 0) return { lease: NO_LEASE, headers: {} };
    if (redis) {
      const holds = holdsOf(s.tenantId, budget);
      const leased = this.#admitLeased(counters, holds, budget);
      if (leased) return leased;
      let r: AcquireResult | { ok: false; budgetFailed: number; used: number[]; resetMs: number };
      try {
        r = await this.#redisAdmit(redis, counters, holds, budget);
      } catch (err) {
        this.#warn(err, 'redis limits unavailable');
        // A budget is held in one store only, Redis: a timed-out script may still have reserved
        // it, and spend taken elsewhere meanwhile would be unknown to Redis afterwards, so
        // either way a fallback could settle above the budget. Fail-open is for rate limits.
        if (budget)
          throw new ServiceUnavailable(
            'Budgets cannot be checked right now (their store, Redis, is unavailable); try again shortly.',
            'limits_unavailable',
          );
        if (this.opts.failureMode === 'closed')
          throw new ServiceUnavailable(
            'Rate limits are unavailable; try again shortly.',
            'limits_unavailable',
          );
        return this.#admitLocal(counters, estimatedTokens, undefined);
      }
      const headers = rateLimitHeaders(counters, r);
      if (!r.ok) throw this.#refusal(counters, r, headers, budget?.scopes ?? []);
      this.#admissions.redis++;
      this.#leases?.refill(counters, holds);
      return {
        headers,
        lease: this.#redisLease(redis, s.tenantId, counters, estimatedTokens, budget),
      };
    }
    if (local && budget)
      return this.#admitInProcess(local, s.tenantId, counters, estimatedTokens, budget);
    return this.#admitLocal(counters, estimatedTokens, undefined);
  }

  /** Admitted from this instance's leases with no Redis round trip, or undefined (see leases.ts). */
  #admitLeased(
    counters: MetricCounter[],
    holds: BudgetHold[],
    budget: BudgetRequest | undefined,
  ): { lease: Lease; headers: Record<string, string> } | undefined {
    const leases = this.#leases;
    const leased = leases?.tryAdmit(counters, holds);
    if (!leases || !leased) return undefined;
    this.#admissions.leased++;
    if (leased.low) leases.refill(counters, holds);
    return {
      headers: rateLimitHeaders(counters, leased),
      lease: {
        budgetHeld: budget !== undefined,
        end: (actualTokens, actualTicks) => {
          leased.end(actualTokens, actualTicks);
          return Promise.resolve();
        },
      },
    };
  }

  /** Budgets and counters in process: seeded (awaited) first, then checked and held in one go. */
  async #admitInProcess(
    local: LocalBudgets,
    tenantId: string,
    counters: MetricCounter[],
    estimatedTokens: number,
    budget: BudgetRequest,
  ): Promise<{ lease: Lease; headers: Record<string, string> }> {
    const holds = holdsOf(tenantId, budget);
    const id = budget.reservationId;
    const ttl = this.opts.reservationTtlMs;
    let r = local.reserve(holds, id, ttl);
    for (let seeded = 0; r.missing && seeded < 2; seeded++) {
      await local.seed(holds, r.missing, (idx) =>
        budget.durableSpent(idx.map((j) => at(budget.scopes, j))),
      );
      r = local.reserve(holds, id, ttl);
    }
    if (r.missing) throw new Error('budget could not be seeded in process');
    if (!r.ok) throw budgetExceeded(at(budget.scopes, r.budgetFailed));
    // No await since reserve(): the counters are checked against the same instant, and a
    // refusal gives the reservation back before anyone else can see it.
    return this.#admitLocal(counters, estimatedTokens, { local, holds, id });
  }

  async #redisAdmit(
    redis: RedisLimits,
    counters: MetricCounter[],
    holds: BudgetHold[],
    budget: BudgetRequest | undefined,
  ) {
    const id = budget?.reservationId ?? '';
    const ttl = this.opts.reservationTtlMs;
    // Settles already ended go first: a client's next request must see its last one released.
    this.#flushSettles(redis);
    let r = await this.#policy.execute(() => redis.admit(counters, holds, id, ttl));
    // A budget Redis does not hold (restart, new period): seed it from Postgres, then retry.
    for (let seeded = 0; r.missing && budget && seeded < 2; seeded++) {
      const missing = r.missing;
      const spent = await budget.durableSpent(missing.map((j) => at(budget.scopes, j)));
      await this.#policy.execute(() =>
        redis.seed(
          missing.map((j, i) => ({
            key: at(holds, j).key,
            spentTicks: spent[i] ?? 0,
            ttlMs: at(holds, j).ttlMs,
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
      budgetHeld: budget !== undefined,
      end: async (actualTokens, actualTicks) => {
        const adjust = releaseOf(counters, estimatedTokens, actualTokens);
        const budgets = held.map((b) => ({
          key: budgetKey(tenantId, b),
          reservedTicks: budget?.costTicks ?? 0,
          actualTicks: Math.min(Math.max(actualTicks, 0), budget?.costTicks ?? 0),
        }));
        await this.#settle(redis, {
          adjust,
          budgets,
          reservationId: budget?.reservationId ?? '',
        });
      },
    };
  }

  /**
   * Queues a settle; every settle queued in one turn of the event loop goes to Redis in one
   * script call (at high concurrency many requests end per turn, and each script call costs
   * both processes more than its content). Resolves once Redis has applied it, or failed to:
   * then the slots come back with the gauges' safety TTL, the reservation with the reclaim sweep.
   */
  #settle(redis: RedisLimits, settle: Settle): Promise<void> {
    return new Promise((done) => {
      this.#settles.push({ settle, done });
      if (this.#settles.length === 1) setImmediate(() => this.#flushSettles(redis));
    });
  }

  /** Sends the queued settles now (before an admit, or at the end of the turn). */
  #flushSettles(redis: RedisLimits): void {
    const batch = this.#settles;
    if (batch.length === 0) return;
    this.#settles = [];
    const sent = this.#policy
      .execute(() => redis.settle(batch.map((b) => b.settle)))
      .catch((err: unknown) => this.#warn(err, 'redis limits settle failed'))
      .finally(() => {
        for (const b of batch) b.done();
      });
    this.#sending.add(sent);
    void sent.finally(() => this.#sending.delete(sent));
  }

  /**
   * Gives back every lease and waits until Redis has every settle: afterwards Redis holds what
   * requests used and nothing more (shutdown, tests).
   */
  async flush(): Promise<void> {
    const redis = this.#redis;
    if (!redis) return;
    await this.#leases?.flush();
    this.#flushSettles(redis);
    while (this.#sending.size > 0) await Promise.allSettled([...this.#sending]);
  }

  close(): void {
    this.#leases?.close();
  }

  /**
   * Reserves `costTicks` of every hold or of none, with the budgets' rules and stores (plans'
   * quotas use it: a hold is any integer counter with a limit). Holds the store does not have
   * yet are seeded from `durable` (their durable used amount). Undefined when this limiter holds
   * no budgets (PostgreSQL without Redis): the caller reserves in Postgres. Redis unavailable:
   * 503, as for budgets (a hold lives in one store only).
   */
  async reserveHolds(
    holds: readonly BudgetHold[],
    id: string,
    durable: (missing: number[]) => Promise<number[]>,
  ): Promise<{ ok: true } | { ok: false; failed: number } | undefined> {
    const ttl = this.opts.reservationTtlMs;
    const redis = this.#redis;
    if (redis) {
      try {
        let r = await this.#policy.execute(() => redis.admit([], holds, id, ttl));
        for (let seeded = 0; r.missing && seeded < 2; seeded++) {
          const missing = r.missing;
          const used = await durable(missing);
          await this.#policy.execute(() =>
            redis.seed(
              missing.map((j, i) => ({
                key: at(holds, j).key,
                spentTicks: used[i] ?? 0,
                ttlMs: at(holds, j).ttlMs,
              })),
            ),
          );
          r = await this.#policy.execute(() => redis.admit([], holds, id, ttl));
        }
        if (r.missing) throw new Error('quota could not be seeded in Redis');
        return r.ok ? { ok: true } : { ok: false, failed: r.budgetFailed ?? 0 };
      } catch (err) {
        this.#warn(err, 'redis quotas unavailable');
        throw new ServiceUnavailable(
          'Quotas cannot be checked right now (their store, Redis, is unavailable); try again shortly.',
          'limits_unavailable',
        );
      }
    }
    const local = this.opts.localBudgets;
    if (!local) return undefined;
    let r = local.reserve(holds, id, ttl);
    for (let seeded = 0; r.missing && seeded < 2; seeded++) {
      await local.seed(holds, r.missing, durable);
      r = local.reserve(holds, id, ttl);
    }
    if (r.missing) throw new Error('quota could not be seeded in process');
    return r.ok ? { ok: true } : { ok: false, failed: r.budgetFailed };
  }

  /**
   * Turns reservations made by reserveHolds into `actualTicks` of use (a negative amount with
   * no reservation gives units back, e.g. a deleted document). Resolves once the store has it.
   */
  async settleHolds(
    holds: readonly { key: string; reservedTicks: number; actualTicks: number }[],
    id: string,
  ): Promise<void> {
    const redis = this.#redis;
    if (redis) return this.#settle(redis, { adjust: [], budgets: holds, reservationId: id });
    this.opts.localBudgets?.settle(holds, id);
  }

  /** What each hold has used (settled), undefined where the store does not hold it. */
  async usedTicks(keys: readonly string[]): Promise<(number | undefined)[]> {
    const redis = this.#redis;
    if (redis) return this.#policy.execute(() => redis.spent(keys));
    const local = this.opts.localBudgets;
    return keys.map((k) => local?.peek(k)?.spent);
  }

  /** This instance's counters, plus the in-process budget reservation `held` already made. */
  #admitLocal(
    counters: MetricCounter[],
    estimatedTokens: number,
    held: { local: LocalBudgets; holds: LocalHold[]; id: string } | undefined,
  ): { lease: Lease; headers: Record<string, string> } {
    if (counters.length === 0 && !held) return { lease: NO_LEASE, headers: {} };
    const r = this.#local.acquireNow(counters);
    const headers = rateLimitHeaders(counters, r);
    if (!r.ok) {
      held?.local.cancel(held.holds, held.id);
      throw this.#refusal(counters, r, headers, []);
    }
    let ended = false;
    return {
      headers,
      lease: {
        budgetHeld: held !== undefined,
        end: (actualTokens, actualTicks) => {
          if (ended) return Promise.resolve();
          ended = true;
          this.#local.adjustNow(releaseOf(counters, estimatedTokens, actualTokens));
          if (held) {
            const cost = held.holds[0]?.costTicks ?? 0;
            const actual = Math.min(Math.max(actualTicks, 0), cost);
            held.local.settle(
              held.holds.map((h) => ({ key: h.key, actualTicks: actual })),
              held.id,
            );
          }
          return Promise.resolve();
        },
      },
    };
  }
}
