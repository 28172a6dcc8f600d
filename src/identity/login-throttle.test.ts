import { describe, expect, it } from 'vitest';
import { LoginThrottle, delayAfter } from './login-throttle.js';

describe('login throttle', () => {
  it('lets the first failures through, then doubles the wait up to the cap', () => {
    expect([1, 5, 6, 7, 8, 20, 60].map((n) => delayAfter(n, 5, 1000, 900_000))).toEqual([
      0, 0, 1000, 2000, 4000, 900_000, 900_000,
    ]);
  });

  it('holds a key after its free failures, and a success clears it', () => {
    let now = 1_000_000;
    const t = new LoginThrottle(2, 1000, 60_000, 100, () => now);
    t.fail('acct');
    t.fail('acct');
    expect(t.retryAfterMs(['acct', 'ip'])).toBe(0);
    expect(t.fail('acct').delayMs).toBe(1000);
    expect(t.retryAfterMs(['ip', 'acct'])).toBe(1000);
    now += 1000;
    expect(t.retryAfterMs(['acct'])).toBe(0);
    expect(t.fail('acct').delayMs).toBe(2000);
    t.succeed('acct');
    expect(t.retryAfterMs(['acct'])).toBe(0);
    expect(t.fail('acct').delayMs).toBe(0);
  });
});
