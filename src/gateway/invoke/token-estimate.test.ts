import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import {
  estimateChatUsage,
  estimateEmbeddingTokens,
  responseText,
  streamText,
  streamUsage,
} from './token-estimate.js';

describe('offline token estimates', () => {
  const body = {
    model: 'm',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'What is RLS?' }] },
    ],
  };

  it('counts prompt messages with their framing, and the completion text', () => {
    expect(estimateChatUsage(body, 'Row-level security.')).toEqual({
      promptTokens: 3 + (3 + countTokens('Be brief.')) + (3 + countTokens('What is RLS?')),
      completionTokens: countTokens('Row-level security.'),
      cachedTokens: 0,
    });
  });

  it('reads the completion from a response and from stream chunks, tool calls included', () => {
    const call = { function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };
    expect(
      responseText({
        choices: [
          { message: { content: 'Hello' } },
          { message: { content: null, tool_calls: [call] } },
        ],
      }),
    ).toBe('Helloget_weather{"city":"Paris"}');
    const chunks = [
      JSON.stringify({ choices: [{ delta: { role: 'assistant', content: '' } }] }),
      JSON.stringify({ choices: [{ delta: { content: 'Hel' } }] }),
      JSON.stringify({ choices: [{ delta: { content: 'lo' } }] }),
      JSON.stringify({ choices: [], usage: null }),
    ];
    expect(streamText(chunks)).toBe('Hello');
  });

  it('estimates only complete streams without reported usage', () => {
    const reported = { promptTokens: 1, completionTokens: 2, cachedTokens: 0 };
    expect(streamUsage(reported, 200, body, [])).toEqual({ usage: reported, estimated: false });
    expect(streamUsage(undefined, 502, body, [])).toEqual({ usage: undefined, estimated: false });
    expect(streamUsage(undefined, 200, body, []).estimated).toBe(true);
  });

  it('counts embedding inputs: strings by tokens, token arrays by length', () => {
    expect(estimateEmbeddingTokens('hello world')).toBe(countTokens('hello world'));
    expect(estimateEmbeddingTokens(['a b', 'c'])).toBe(countTokens('a b') + countTokens('c'));
    expect(estimateEmbeddingTokens([1, 2, 3])).toBe(3);
    expect(estimateEmbeddingTokens([[1, 2], [3]])).toBe(3);
  });
});
