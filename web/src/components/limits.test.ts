import { describe, expect, it } from 'vitest';
import { describeLimits, draftOf, limitsOf, NO_LIMITS } from './limits';

describe('limits fields', () => {
  it('sends only the positive fields, the period only with a budget', () => {
    expect(limitsOf(NO_LIMITS)).toEqual({});
    expect(limitsOf({ ...NO_LIMITS, rpm: 60, tpm: 0, concurrency: '', period: 'month' })).toEqual({
      rpm: 60,
    });
    expect(limitsOf({ ...NO_LIMITS, budget: 2.5, period: 'month' })).toEqual({
      budgetUsd: 2.5,
      budgetPeriod: 'month',
    });
  });

  it('rounds counts to whole numbers (the server takes integers)', () => {
    expect(limitsOf({ ...NO_LIMITS, rpm: 10.6, concurrency: 2.2 })).toEqual({
      rpm: 11,
      concurrency: 2,
    });
  });

  it('round-trips stored limits through the fields', () => {
    const stored = {
      rpm: 5,
      tpm: 1000,
      concurrency: 2,
      budgetUsd: 3,
      budgetPeriod: 'day' as const,
    };
    expect(limitsOf(draftOf(stored))).toEqual(stored);
    expect(draftOf({})).toEqual(NO_LIMITS);
  });

  it('describes limits in one line', () => {
    expect(describeLimits({})).toBe('none');
    expect(describeLimits({ rpm: 60, budgetUsd: 5, budgetPeriod: 'month' })).toBe(
      '60 rpm · $5/month',
    );
    expect(describeLimits({ tpm: 100, concurrency: 3 })).toBe('100 tpm · 3 at once');
  });
});
