import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CacheStore } from './store.js';

/** After a failed or slow read, Redis is left alone this long (every read would wait otherwise). */
const SKIP_AFTER_FAILURE_MS = 5_000;

/**
 * The response cache in Redis, shared by every replica, with Redis's own expiry (PX). A read
 * waits at most `timeoutMs`; a slow or failed read is a miss, never an error or a hang, and
 * pauses Redis use for a few seconds so an outage costs each request nothing.
 */
export class RedisCacheStore implements CacheStore {
  #skipUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly opts: { timeoutMs: number },
    private readonly logger: Logger,
  ) {}

  #failed(err: unknown, op: string): void {
    if (Date.now() >= this.#skipUntil)
      this.logger.warn(
        { err: { message: (err as Error).message }, op },
        'response cache: Redis unavailable; treating as a miss for a few seconds',
      );
    this.#skipUntil = Date.now() + SKIP_AFTER_FAILURE_MS;
  }

  async get(key: string): Promise<string | undefined> {
    if (Date.now() < this.#skipUntil) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('cache read timed out')), this.opts.timeoutMs);
    });
    try {
      const value = await Promise.race([this.redis.get(key), timeout]);
      return value ?? undefined;
    } catch (err) {
      this.#failed(err, 'get');
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    if (Date.now() < this.#skipUntil) return;
    try {
      await this.redis.set(key, value, 'PX', ttlSeconds * 1000);
    } catch (err) {
      this.#failed(err, 'set');
    }
  }
}
