import { describe, expect, it } from 'vitest';
import { builtinPrice } from './prices.js';

describe('builtinPrice', () => {
  it('matches exact names and dated snapshots, preferring the longest base name', () => {
    expect(builtinPrice('gpt-4o')).toEqual({ input: 2.5, output: 10, cachedInput: 1.25 });
    expect(builtinPrice('gpt-4o-mini-2024-07-18')).toEqual({
      input: 0.15,
      output: 0.6,
      cachedInput: 0.075,
    });
    expect(builtinPrice('claude-sonnet-4-20250514')?.output).toBe(15);
    expect(builtinPrice('gpt-4o-minimal')).toBeUndefined();
    expect(builtinPrice('llama3')).toBeUndefined();
    expect(builtinPrice('claude-3-5-haiku-latest')?.input).toBe(0.8);
  });
});
