import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { deliveryRetryDelayMs } from './deliver.js';

describe('webhook retry schedule', () => {
  const config = loadConfig({});
  const settings = {
    retryBaseMs: config.WEBHOOK_RETRY_BASE_MS,
    retryMaxMs: config.WEBHOOK_RETRY_MAX_MS,
  };
  const waits = (random: () => number) =>
    Array.from({ length: config.WEBHOOK_MAX_ATTEMPTS - 1 }, (_, i) =>
      deliveryRetryDelayMs(i + 1, settings, random),
    );
  const HOUR = 3_600_000;

  it('doubles from 10 s up to 6 h, and with the defaults spans about a day', () => {
    const exact = waits(() => 0.5);
    expect(exact.slice(0, 4)).toEqual([10_000, 20_000, 40_000, 80_000]);
    expect(Math.max(...exact)).toBe(6 * HOUR);
    const total = exact.reduce((a, b) => a + b, 0);
    expect(total).toBe(84_150_000); // 23.4 hours between the first attempt and the last
  });

  it('spreads each delay by at most 20 % either way', () => {
    const low = waits(() => 0);
    const high = waits(() => 1);
    const exact = waits(() => 0.5);
    exact.forEach((ms, i) => {
      expect(low[i]).toBe(Math.round(ms * 0.8));
      expect(high[i]).toBe(Math.round(ms * 1.2));
    });
  });
});
