import { Redis } from 'ioredis';

/**
 * A Redis client that fails fast: short timeouts, a bounded retry per command, so no request
 * hangs on Redis. Connection errors go to `onError` (default: dropped, because /readyz reports
 * an unreachable Redis by name); without any listener ioredis prints every reconnect failure.
 */
export function createRedis(url: string, onError: (err: Error) => void = () => undefined): Redis {
  const redis = new Redis(url, {
    connectTimeout: 2000,
    commandTimeout: 1000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    lazyConnect: false,
    // Commands issued in the same tick (many concurrent admits) share one socket write.
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on('error', onError);
  return redis;
}

export type { Redis };
