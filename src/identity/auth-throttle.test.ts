import { describe, expect, it } from 'vitest';
import { AuthThrottle, failureSource } from './auth-throttle.js';

describe('failureSource', () => {
  it('counts IPv6 per /64 and an IPv4-mapped address as the IPv4', () => {
    expect(failureSource('203.0.113.9')).toBe('203.0.113.9');
    expect(failureSource('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(failureSource('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(failureSource('2001:0db8:0001:0002:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
    expect(failureSource('2001:db8::1')).toBe('2001:db8:0:0::/64');
  });
});

describe('AuthThrottle (in process)', () => {
  it('throttles an address after N failures until the minute ends, then forgets', async () => {
    let now = 120_000 + 15_000;
    const t = new AuthThrottle({ perAddress: 3, perKeyPrefix: 0 }, undefined, () => now);
    for (let i = 0; i < 3; i++) {
      expect(t.retryAfter('198.51.100.1', undefined)).toBeUndefined();
      await t.recordFailure('198.51.100.1', undefined);
    }
    expect(t.retryAfter('198.51.100.1', undefined)).toEqual({ scope: 'address', seconds: 45 });
    expect(t.retryAfter('198.51.100.2', undefined)).toBeUndefined();
    expect(t.throttledSources()).toEqual({ address: 1, key_prefix: 0 });
    now = 180_000;
    expect(t.retryAfter('198.51.100.1', undefined)).toBeUndefined();
  });

  it('throttles a key prefix whatever the address; a limit of 0 disables', async () => {
    const t = new AuthThrottle({ perAddress: 0, perKeyPrefix: 2 }, undefined, () => 1000);
    await t.recordFailure('198.51.100.1', 'rmp_abcdefgh');
    await t.recordFailure('198.51.100.2', 'rmp_abcdefgh');
    expect(t.retryAfter('198.51.100.3', 'rmp_abcdefgh')?.scope).toBe('key_prefix');
    expect(t.retryAfter('198.51.100.3', 'rmp_other000')).toBeUndefined();
    for (let i = 0; i < 100; i++) await t.recordFailure('198.51.100.4', undefined);
    expect(t.retryAfter('198.51.100.4', undefined)).toBeUndefined();
  });
});
