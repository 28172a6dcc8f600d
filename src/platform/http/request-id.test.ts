import { describe, expect, it } from 'vitest';
import { newRequestId, requestIdTime, UUID_V7 as V7 } from './request-id.js';

describe('newRequestId', () => {
  it('is a UUIDv7 carrying the time it was made', () => {
    const at = Date.UTC(2026, 11, 6, 12, 0, 0, 123);
    const id = newRequestId(at);
    expect(id).toMatch(V7);
    expect(requestIdTime(id)).toBe(at);
    // The 48-bit timestamp is the first twelve hex digits.
    expect(id.slice(0, 8) + id.slice(9, 13)).toBe(at.toString(16).padStart(12, '0'));
  });

  it('sorts by time across milliseconds and differs within one', () => {
    const base = Date.UTC(2026, 0, 1);
    const ids = [0, 1, 2, 15, 16, 255, 256, 4096, 86_400_000].map((d) => newRequestId(base + d));
    expect([...ids].sort()).toEqual(ids);
    const sameMs = new Set(Array.from({ length: 1000 }, () => newRequestId(base)));
    expect(sameMs.size).toBe(1000);
    for (const id of sameMs) expect(id).toMatch(V7);
  });

  it('uses the current time by default', () => {
    const before = Date.now();
    const t = requestIdTime(newRequestId());
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });

  it('reads no time from ids that are not UUIDv7', () => {
    expect(requestIdTime('req-create-tenant-0001')).toBeUndefined();
    expect(requestIdTime(crypto.randomUUID())).toBeUndefined();
  });
});
