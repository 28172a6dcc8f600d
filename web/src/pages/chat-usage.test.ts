import { describe, expect, it } from 'vitest';
import { chunkOf, priceFor, requestCostUsd } from './chat-usage';

describe('chunkOf', () => {
  it('reads the text delta and the answering model', () => {
    expect(chunkOf('{"model":"gpt-4o-mini","choices":[{"delta":{"content":"Hel"}}]}')).toEqual({
      delta: 'Hel',
      model: 'gpt-4o-mini',
    });
  });

  it('reads the final usage with its cached prompt tokens (0 when not reported)', () => {
    expect(
      chunkOf(
        '{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":6}}}',
      ).usage,
    ).toEqual({ prompt_tokens: 10, completion_tokens: 4, cached_tokens: 6 });
    expect(chunkOf('{"usage":{"prompt_tokens":3,"completion_tokens":2}}').usage).toEqual({
      prompt_tokens: 3,
      completion_tokens: 2,
      cached_tokens: 0,
    });
    expect(chunkOf('{"choices":[{"delta":{}}],"usage":null}')).toEqual({});
  });
});

describe('requestCostUsd', () => {
  it('prices prompt, cached and completion tokens per million', () => {
    const price = { input: 1.5, output: 6, cachedInput: 0.75 };
    expect(
      requestCostUsd(price, { prompt_tokens: 1000, completion_tokens: 500, cached_tokens: 0 }),
    ).toBeCloseTo(0.0045, 10);
    expect(
      requestCostUsd(price, { prompt_tokens: 1000, completion_tokens: 0, cached_tokens: 400 }),
    ).toBeCloseTo((600 * 1.5 + 400 * 0.75) / 1e6, 10);
  });

  it('never counts more cached tokens than prompt tokens', () => {
    const price = { input: 2, output: 0, cachedInput: 1 };
    expect(
      requestCostUsd(price, { prompt_tokens: 10, completion_tokens: 0, cached_tokens: 50 }),
    ).toBeCloseTo(10 / 1e6, 12);
  });
});

describe('priceFor', () => {
  const prices = [
    { model: 'gpt-4o', source: 'builtin' },
    { model: 'gpt-4o-mini', source: 'tenant' },
  ];

  it('takes the exact name first', () => {
    expect(priceFor('gpt-4o-mini', prices)).toEqual({ model: 'gpt-4o-mini', source: 'tenant' });
    expect(priceFor('gpt-4o', prices)?.model).toBe('gpt-4o');
  });

  it('matches a dated snapshot to the longest name it extends, and nothing else', () => {
    expect(priceFor('gpt-4o-mini-2024-07-18', prices)?.model).toBe('gpt-4o-mini');
    expect(priceFor('gpt-4o-2024-08-06', prices)?.model).toBe('gpt-4o');
    expect(priceFor('gpt-4', prices)).toBeUndefined();
    expect(priceFor('gpt-4omni', prices)).toBeUndefined();
  });
});
