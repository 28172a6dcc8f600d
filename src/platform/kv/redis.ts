import { Redis } from 'ioredis';

/** A Redis client that fails fast: short timeouts, no unbounded offline queue, so no request hangs on Redis. */
export function createRedis(url: string): Redis {
  return new Redis(url, {
    connectTimeout: 2000,
    commandTimeout: 1000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
}

export type { Redis };
