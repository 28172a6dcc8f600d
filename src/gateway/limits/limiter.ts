import {
  circuitBreaker,
  ConsecutiveBreaker,
  handleAll,
  timeout,
  TimeoutStrategy,
  wrap,
  type IPolicy,
} from 'cockatiel';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AppError, RateLimited, ServiceUnavailable } from '../../platform/http/errors.js';
import { LocalCounters, type Counter, type CounterStore } from './counters.js';
import { RedisCounters } from './redis-counters.js';
import type { Limits } from './schema.js';

export interface LimitSubject {
  tenantId: string;
  keyId: string | null;
  keyLimits: Limits;
  tenantLimits: Limits;
}

/** What a request holds after admission; released exactly once when the request ends. */
export interface Lease {
  settleTokens(actualTokens: number): void;
  release(): void;
}

const NOOP: Lease = { settleTokens: () => undefined, release: () => undefined };

function seconds(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

/**
 * RPM, TPM and concurrency per key and per tenant. With Redis every check is one script round
 * trip behind a short timeout and a circuit breaker; when Redis fails, `failureMode` decides:
 * 'open' falls back to this instance's local counters, 'closed' answers 503.
 */
export class Limiter {
  readonly #local = new LocalCounters();
  readonly #redis: RedisCounters | undefined;
  readonly #policy: IPolicy;

  constructor(
    private readonly opts: {
      redis: Redis | undefined;
      failureMode: 'open' | 'closed';
      redisTimeoutMs: number;
      logger: Logger;
    },
  ) {
    this.#redis = opts.redis ? new RedisCounters(opts.redis) : undefined;
    this.#policy = wrap(
      circuitBreaker(handleAll, {
        halfOpenAfter: 5_000,
        breaker: new ConsecutiveBreaker(3),
      }),
      timeout(opts.redisTimeoutMs, TimeoutStrategy.Aggressive),
    );
  }

  async #run<T>(fn: (s: CounterStore) => Promise<T>): Promise<{ value: T; store: CounterStore }> {
    const redis = this.#redis;
    if (!redis) return { value: await fn(this.#local), store: this.#local };
    try {
      return { value: await this.#policy.execute(() => fn(redis)), store: redis };
    } catch (err) {
      this.opts.logger.warn(
        { err: { message: (err as Error).message } },
        'redis limits unavailable',
      );
      if (this.opts.failureMode === 'closed')
        throw new ServiceUnavailable(
          'Rate limits are unavailable; try again shortly.',
          'limits_unavailable',
        );
      return { value: await fn(this.#local), store: this.#local };
    }
  }

  /** Admits the request or throws 429 (rate_limited) with Retry-After and x-ratelimit-* headers. */
  async admit(
    s: LimitSubject,
    estimatedTokens: number,
  ): Promise<{ lease: Lease; headers: Record<string, string> }> {
    const counters: (Counter & { metric: 'requests' | 'tokens' | 'concurrency' })[] = [];
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
    if (s.keyId) add(`rl:k:${s.keyId}`, s.keyLimits);
    add(`rl:t:${s.tenantId}`, s.tenantLimits);
    if (counters.length === 0) return { lease: NOOP, headers: {} };

    const { value: r, store } = await this.#run((st) => st.acquire(counters));
    const headers: Record<string, string> = {};
    for (const metric of ['requests', 'tokens'] as const) {
      // The tightest counter of each kind is the one the client should pace itself by.
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
    if (!r.ok) {
      const c = counters[r.failed];
      if (c?.metric === 'concurrency')
        throw new RateLimited('Too many concurrent requests for this key or tenant.', 1, headers);
      throw new RateLimited(
        `Rate limit reached for ${c?.metric ?? 'requests'} per minute.`,
        r.resetMs / 1000,
        headers,
      );
    }
    const gauges = counters.filter((c) => c.kind === 'gauge');
    const tokens = counters.filter((c) => c.metric === 'tokens');
    let released = false;
    const quietly = (p: Promise<void>) =>
      p.catch((err: unknown) =>
        this.opts.logger.warn({ err: { message: (err as Error).message } }, 'limit release failed'),
      );
    return {
      headers,
      lease: {
        settleTokens: (actual) => {
          const delta = actual - estimatedTokens;
          if (tokens.length && delta !== 0)
            void quietly(store.adjust(tokens.map((c) => ({ kind: c.kind, key: c.key, delta }))));
        },
        release: () => {
          if (released || gauges.length === 0) return;
          released = true;
          void quietly(store.adjust(gauges.map((c) => ({ kind: c.kind, key: c.key, delta: -1 }))));
        },
      },
    };
  }
}

export function budgetExceeded(message: string): AppError {
  return new AppError(429, 'budget_exceeded', message);
}
