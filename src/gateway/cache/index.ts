import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Attempt } from '../invoke/attempts.js';
import type { Admission } from '../limits/service.js';
import { NO_USAGE, type RequestMeter } from '../invoke/metering.js';
import type { RouteCache } from '../config/routing-store.js';
import { cacheTtlSeconds, type CacheDirective } from './directive.js';
import { cacheKey } from './key.js';
import { RedisCacheStore } from './redis-store.js';
import { MemoryCacheStore, type CacheStore } from './store.js';

export { readCacheDirective, type CacheDirective } from './directive.js';

/** A stored answer and the target that produced it (for the usage row of a hit). */
export interface CachedResponse {
  body: Record<string, unknown>;
  provider: string;
  model: string;
}

/** This request's place in the cache: decided once, before the upstream call. */
export interface CachePlan {
  key: string;
  ttlSeconds: number;
}

export type CacheConfig = Pick<
  Config,
  | 'GATEWAY_CACHE_MAX_ENTRIES'
  | 'GATEWAY_CACHE_MAX_BYTES'
  | 'GATEWAY_CACHE_DEFAULT_TTL_SECONDS'
  | 'GATEWAY_CACHE_REDIS_TIMEOUT_MS'
>;

const DEFAULTS: CacheConfig = {
  GATEWAY_CACHE_MAX_ENTRIES: 10_000,
  GATEWAY_CACHE_MAX_BYTES: 64 * 1024 * 1024,
  GATEWAY_CACHE_DEFAULT_TTL_SECONDS: 300,
  GATEWAY_CACHE_REDIS_TIMEOUT_MS: 50,
};

function isCachedResponse(v: unknown): v is CachedResponse {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.body === 'object' &&
    r.body !== null &&
    typeof r.provider === 'string' &&
    typeof r.model === 'string'
  );
}

/**
 * The exact-match response cache for non-streaming requests, keyed by tenant, endpoint, alias
 * and the normalised request. Only successful answers are stored (errors never reach `put`).
 */
export class ResponseCache {
  constructor(
    readonly store: CacheStore,
    private readonly defaultTtlSeconds: number,
  ) {}

  /** Whether (and for how long) this request is cached; undefined: the cache is not involved. */
  plan(
    tenantId: string,
    endpoint: 'chat' | 'embeddings',
    body: Record<string, unknown> & { model: string },
    directive: CacheDirective | undefined,
    route: RouteCache | undefined,
  ): CachePlan | undefined {
    const ttlSeconds = cacheTtlSeconds(
      directive,
      route,
      body.stream === true,
      this.defaultTtlSeconds,
    );
    if (ttlSeconds === undefined) return undefined;
    return { key: cacheKey(tenantId, endpoint, body.model, body), ttlSeconds };
  }

  async get(plan: CachePlan): Promise<CachedResponse | undefined> {
    const raw = await this.store.get(plan.key);
    if (raw === undefined) return undefined;
    try {
      const parsed: unknown = JSON.parse(raw);
      return isCachedResponse(parsed) ? parsed : undefined;
    } catch {
      return undefined; // a corrupt entry is a miss; the next answer overwrites it
    }
  }

  /** Stores an answer off the response path; a failure only means a later miss. */
  put(plan: CachePlan, entry: CachedResponse): void {
    void this.store.set(plan.key, JSON.stringify(entry), plan.ttlSeconds);
  }

  /**
   * The stored answer to a planned request, metered as a zero-cost hit (no upstream call, no
   * tokens) with the admission settled at zero; undefined on a miss or with no plan.
   */
  async answer(
    plan: CachePlan | undefined,
    attempts: readonly Attempt[],
    meter: RequestMeter,
    admission: Admission,
  ): Promise<Record<string, unknown> | undefined> {
    const hit = plan ? await this.get(plan) : undefined;
    if (!hit) return undefined;
    meter.record({
      attempt: attempts.find((a) => a.provider === hit.provider && a.model === hit.model),
      target: hit,
      usage: NO_USAGE,
      status: 200,
      upstreamMs: 0,
      cacheHit: true,
    });
    await admission.end(NO_USAGE, hit.model);
    return hit.body;
  }

  /** Remembers a successful upstream answer to a planned request. */
  remember(plan: CachePlan | undefined, attempt: Attempt, body: Record<string, unknown>): void {
    if (plan) this.put(plan, { body, provider: attempt.provider, model: attempt.model });
  }
}

/** Redis with TTL when a client is given (shared by replicas), else a bounded in-process LRU. */
export function createResponseCache(deps: {
  redis: Redis | undefined;
  logger: Logger;
  config: CacheConfig | undefined;
}): ResponseCache {
  const c = deps.config ?? DEFAULTS;
  const store = deps.redis
    ? new RedisCacheStore(deps.redis, { timeoutMs: c.GATEWAY_CACHE_REDIS_TIMEOUT_MS }, deps.logger)
    : new MemoryCacheStore({
        maxEntries: c.GATEWAY_CACHE_MAX_ENTRIES,
        maxBytes: c.GATEWAY_CACHE_MAX_BYTES,
      });
  return new ResponseCache(store, c.GATEWAY_CACHE_DEFAULT_TTL_SECONDS);
}
