import { CircuitState } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { TargetFailure, TargetPolicies, retryAfterMs } from './policy.js';

const settings = {
  attempts: 3,
  baseDelayMs: 100,
  maxDelayMs: 1_000,
  breakerThreshold: 2,
  breakerCooldownMs: 60_000,
};

describe('resilience policy', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3_000);
    expect(retryAfterMs(' 0 ')).toBe(0);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5_000);
    expect(retryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });

  it('backoff delays are jittered within [0, min(base * 2^n, max)]', () => {
    const p = new TargetPolicies(settings);
    for (let run = 0; run < 50; run++) {
      let b = p.backoff();
      for (let n = 0; n < 8; n++) {
        expect(b.duration).toBeGreaterThanOrEqual(0);
        expect(b.duration).toBeLessThanOrEqual(Math.min(100 * 2 ** n, 1_000));
        b = b.next(undefined);
      }
    }
  });

  it('one breaker per tenant, provider and model; only upstream failures open it', async () => {
    const p = new TargetPolicies(settings);
    const a = p.breaker('t1', 'main', 'm');
    expect(p.breaker('t1', 'main', 'm')).toBe(a);
    expect(p.breaker('t2', 'main', 'm')).not.toBe(a);
    const fail = () => {
      throw new TargetFailure('boom', 500, 'status');
    };
    // Errors that are not upstream failures (an abort, a bug) do not count.
    await expect(a.execute(() => Promise.reject(new Error('aborted')))).rejects.toThrow('aborted');
    await expect(a.execute(fail)).rejects.toBeInstanceOf(TargetFailure);
    expect(a.state).toBe(CircuitState.Closed);
    await expect(a.execute(fail)).rejects.toBeInstanceOf(TargetFailure);
    let called = false;
    await expect(
      a.execute(() => {
        called = true;
      }),
    ).rejects.toThrow(/open/i);
    expect(called).toBe(false);
    expect(p.breaker('t1', 'main', 'other').state).toBe(CircuitState.Closed);
  });

  it('holds a bounded number of breakers, evicting closed ones before an open one', async () => {
    const p = new TargetPolicies(settings, 3);
    const open = p.breaker('t1', 'main', 'failing');
    const fail = () => {
      throw new TargetFailure('boom', 500, 'status');
    };
    for (let i = 0; i < settings.breakerThreshold; i++)
      await expect(open.execute(fail)).rejects.toBeInstanceOf(TargetFailure);
    expect(open.state).toBe(CircuitState.Open);
    // Thirty made-up model names through a '*' route.
    for (let i = 0; i < 30; i++) p.breaker('t1', 'main', `random-${i}`);
    expect(p.size).toBe(3);
    // The open breaker was kept: the failing target is still refused without a call.
    expect(p.breaker('t1', 'main', 'failing')).toBe(open);
    expect(p.circuitCounts().reduce((n, c) => n + c.count, 0)).toBe(3);
  });
});
