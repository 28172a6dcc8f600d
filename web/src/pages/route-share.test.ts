import { describe, expect, it } from 'vitest';
import { shareOf } from './route-share';

describe('shareOf', () => {
  it('gives each target its share of the weights, rounded', () => {
    const targets = [{ weight: 9 }, { weight: 1 }];
    expect(shareOf(9, targets)).toBe('90%');
    expect(shareOf(1, targets)).toBe('10%');
    expect(shareOf(1, [{ weight: 1 }, { weight: 2 }])).toBe('33%');
  });

  it('counts a zero weight as no traffic, and no weight at all as no share', () => {
    expect(shareOf(0, [{ weight: 0 }, { weight: 5 }])).toBe('0%');
    expect(shareOf(0, [{ weight: 0 }])).toBe('—');
  });
});
