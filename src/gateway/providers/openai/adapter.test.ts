import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SseParser } from '../../invoke/sse.js';
import type { ProviderConfig } from '../types.js';
import { openAIAdapter } from './adapter.js';

const fixture = (name: string): string =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

const provider: ProviderConfig = {
  type: 'openai',
  baseUrl: 'https://llm.example.com/v1/',
  apiKey: 'sk-test-123',
  headers: { 'openai-organization': 'org-1' },
};

function replay(sse: string, includeUsage: boolean) {
  const t = openAIAdapter.chatStream({ includeUsage });
  const parser = new SseParser();
  const out = [...parser.push(sse), ...parser.end()].flatMap((e) => t.push(e));
  return { out: [...out, ...t.end()], usage: t.usage };
}

describe('openai adapter', () => {
  it('passes unknown fields through, swaps the model and always asks for stream usage', () => {
    const call = openAIAdapter.chatRequest(
      provider,
      {
        model: 'default',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_obfuscation: false },
        seed: 7,
        custom_vendor_flag: { a: 1 },
      },
      'gpt-4o-mini',
    );
    expect(call.url).toBe('https://llm.example.com/v1/chat/completions');
    expect(call.headers).toEqual({
      'openai-organization': 'org-1',
      authorization: 'Bearer sk-test-123',
      'content-type': 'application/json',
    });
    expect(JSON.parse(call.body)).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_obfuscation: false, include_usage: true },
      seed: 7,
      custom_vendor_flag: { a: 1 },
    });
  });

  it('a provider header cannot override the credential', () => {
    const call = openAIAdapter.chatRequest(
      { ...provider, headers: { authorization: 'Bearer other' } },
      { model: 'm', messages: [] },
      'm',
    );
    expect(call.headers.authorization).toBe('Bearer sk-test-123');
  });

  it('reads usage (with cached tokens) from a tool-call response and keeps the body', () => {
    const json = JSON.parse(fixture('chat-tool-call.response.json')) as Record<string, unknown>;
    const { body, usage } = openAIAdapter.chatResponse(json);
    expect(body).toEqual(json);
    expect(usage).toEqual({ promptTokens: 82, completionTokens: 17, cachedTokens: 64 });
  });

  it('stream: forwards chunks unchanged, reads usage, and drops the usage chunk if the client did not ask', () => {
    const sse = fixture('chat-stream-with-usage.sse');
    const dataLines = sse
      .split('\n')
      .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
      .map((l) => l.slice(6));
    const asked = replay(sse, true);
    expect(asked.out).toEqual(dataLines);
    expect(asked.usage).toEqual({ promptTokens: 19, completionTokens: 2, cachedTokens: 0 });
    const notAsked = replay(sse, false);
    expect(notAsked.out).toEqual(dataLines.slice(0, 4));
    expect(notAsked.usage).toEqual(asked.usage);
  });

  it('embeddings: request to /embeddings, usage from the response', () => {
    const call = openAIAdapter.embeddingsRequest?.(
      provider,
      { model: 'emb', input: ['a', 'b'], dimensions: 3 },
      'text-embedding-3-small',
    );
    expect(call?.url).toBe('https://llm.example.com/v1/embeddings');
    expect(JSON.parse(call?.body ?? '{}')).toEqual({
      model: 'text-embedding-3-small',
      input: ['a', 'b'],
      dimensions: 3,
    });
    const res = openAIAdapter.embeddingsResponse?.(JSON.parse(fixture('embeddings.response.json')));
    expect(res?.usage).toEqual({ promptTokens: 8, completionTokens: 0, cachedTokens: 0 });
  });

  it('reads the message of an OpenAI error body', () => {
    expect(
      openAIAdapter.errorMessage({ error: { message: 'Rate limit reached', type: 'requests' } }),
    ).toBe('Rate limit reached');
    expect(openAIAdapter.errorMessage('<html>')).toBeUndefined();
  });
});
