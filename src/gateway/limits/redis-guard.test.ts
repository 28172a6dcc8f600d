import { describe, expect, it } from 'vitest';
import { RedisCircuitOpen, RedisGuard } from './redis-guard.js';

describe('RedisGuard', () => {
  it('times out a call that does not answer, and opens after consecutive failures', async () => {
    let now = 1_000;
    const guard = new RedisGuard({ timeoutMs: 5, threshold: 2, openMs: 100, now: () => now });
    const never = () => new Promise<number>(() => undefined);
    await expect(guard.execute(never)).rejects.toThrow(/did not answer within 5 ms/);
    await expect(guard.execute(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    let called = false;
    const probe = () => {
      called = true;
      return Promise.resolve(7);
    };
    await expect(guard.execute(probe)).rejects.toBeInstanceOf(RedisCircuitOpen);
    expect(called).toBe(false);
    now += 100; // open period over: calls go through, and a success closes the breaker
    expect(await guard.execute(probe)).toBe(7);
    await expect(guard.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(await guard.execute(probe)).toBe(7); // one failure after a success does not open it
  });
});
