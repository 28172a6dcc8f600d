import { afterEach, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../src/platform/kv/redis.js';
import { Metrics } from '../src/platform/telemetry/metrics.js';
import { TEST_REDIS_URL } from './helpers/db.js';

const NO_POOL = () => ({ total: 0, idle: 0, waiting: 0 });

/** The value of a sample with no labels in the registry's exposition text. */
async function value(metrics: Metrics, name: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} is not exported`);
  return Number(line.slice(name.length + 1));
}

/** Resolves once `redis` has emitted `count` error events. */
function errorsSeen(redis: Redis, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    redis.on('error', () => {
      seen += 1;
      if (seen === count) resolve();
    });
  });
}

describe('Redis connection metrics', () => {
  let redis: Redis | undefined;
  afterEach(() => {
    redis?.disconnect();
    redis = undefined;
  });

  it('are absent without a Redis client', async () => {
    const metrics = new Metrics({ poolStats: NO_POOL, defaultMetrics: false });
    await expect(value(metrics, 'rampart_redis_connected')).rejects.toThrow(/not exported/);
  });

  it('report an unreachable Redis as disconnected and count its connection errors', async () => {
    // Port 1 on loopback: nothing listens there, every connect is refused at once.
    redis = createRedis('redis://127.0.0.1:1');
    const metrics = new Metrics({ poolStats: NO_POOL, defaultMetrics: false, redis });
    await errorsSeen(redis, 2);
    expect(await value(metrics, 'rampart_redis_connected')).toBe(0);
    expect(await value(metrics, 'rampart_redis_errors_total')).toBeGreaterThanOrEqual(2);
  });

  it.skipIf(!TEST_REDIS_URL)('report a reachable Redis as connected, with no errors', async () => {
    redis = createRedis(TEST_REDIS_URL!);
    const metrics = new Metrics({ poolStats: NO_POOL, defaultMetrics: false, redis });
    expect(await redis.ping()).toBe('PONG');
    expect(await value(metrics, 'rampart_redis_connected')).toBe(1);
    expect(await value(metrics, 'rampart_redis_errors_total')).toBe(0);
  });
});
