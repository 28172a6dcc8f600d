import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SseParser } from '../../invoke/sse.js';
import { UnsupportedRequest, type ProviderConfig } from '../types.js';
import { anthropicAdapter } from './adapter.js';

const fixture = (name: string): string =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

const provider: ProviderConfig = {
  type: 'anthropic',
  baseUrl: 'https://api.anthropic.com',
  apiKey: 'sk-ant-test',
  headers: {},
};

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather',
    parameters: { type: 'object', properties: { location: { type: 'string' } } },
  },
};

function replay(sse: string, includeUsage: boolean) {
  const t = anthropicAdapter.chatStream({ includeUsage });
  const parser = new SseParser();
  const out = [...parser.push(sse), ...parser.end()].flatMap((e) => t.push(e));
  return {
    chunks: [...out, ...t.end()].map((d) => JSON.parse(d) as Record<string, unknown>),
    usage: t.usage,
    error: t.error,
  };
}

describe('anthropic adapter: requests', () => {
  it('translates system messages, tools, tool calls and tool results', () => {
    const call = anthropicAdapter.chatRequest(
      provider,
      {
        model: 'smart',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: [{ type: 'text', text: 'Use metric units.' }] },
          { role: 'user', content: 'Weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"location":"Paris"}' },
              },
              {
                id: 'call_2',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"location":"Rome"}' },
              },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: '18C' },
          { role: 'tool', tool_call_id: 'call_2', content: '24C' },
        ],
        tools: [weatherTool],
        tool_choice: 'required',
        parallel_tool_calls: false,
        stop: 'END',
        temperature: 0.2,
        max_tokens: 300,
        stream: true,
      },
      'claude-sonnet-4-20250514',
    );
    expect(call.url).toBe('https://api.anthropic.com/v1/messages');
    expect(call.headers).toEqual({
      'anthropic-version': '2023-06-01',
      'x-api-key': 'sk-ant-test',
      'content-type': 'application/json',
    });
    expect(JSON.parse(call.body)).toEqual({
      model: 'claude-sonnet-4-20250514',
      system: 'Be brief.\n\nUse metric units.',
      max_tokens: 300,
      temperature: 0.2,
      stop_sequences: ['END'],
      stream: true,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { location: 'Paris' } },
            { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { location: 'Rome' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_1', content: '18C' },
            { type: 'tool_result', tool_use_id: 'call_2', content: '24C' },
          ],
        },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather',
          input_schema: { type: 'object', properties: { location: { type: 'string' } } },
        },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });
  });

  it('defaults max_tokens, maps images, and rejects what Anthropic cannot express', () => {
    const body = JSON.parse(
      anthropicAdapter.chatRequest(
        provider,
        {
          model: 'x',
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'What is this?' },
                { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
              ],
            },
          ],
        },
        'claude-3-5-haiku-latest',
      ).body,
    ) as Record<string, unknown>;
    expect(body.max_tokens).toBe(4096);
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          {
            type: 'image',
            source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' },
          },
        ],
      },
    ]);
    expect(() =>
      anthropicAdapter.chatRequest(provider, { model: 'x', messages: [], n: 2 }, 'c'),
    ).toThrow(UnsupportedRequest);
  });
});

describe('anthropic adapter: responses', () => {
  it('translates tool_use blocks, stop reason and usage (cache reads count as cached prompt tokens)', () => {
    const { body, usage } = anthropicAdapter.chatResponse(
      JSON.parse(fixture('messages-tool-use.response.json')),
    );
    expect(usage).toEqual({ promptTokens: 512, completionTokens: 57, cachedTokens: 100 });
    expect(body).toMatchObject({
      id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion',
      model: 'claude-sonnet-4-20250514',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: "I'll look up the weather.",
            tool_calls: [
              {
                id: 'toolu_01A09q90qw90lq917835lq9',
                type: 'function',
                function: {
                  name: 'get_weather',
                  arguments: '{"location":"Paris","unit":"celsius"}',
                },
              },
            ],
          },
        },
      ],
      usage: {
        prompt_tokens: 512,
        completion_tokens: 57,
        total_tokens: 569,
        prompt_tokens_details: { cached_tokens: 100 },
      },
    });
  });

  it('maps max_tokens to finish_reason length', () => {
    const { body } = anthropicAdapter.chatResponse(
      JSON.parse(fixture('messages-text.response.json')),
    );
    expect(body.choices).toEqual([
      {
        index: 0,
        logprobs: null,
        finish_reason: 'length',
        message: { role: 'assistant', content: 'Bonjour !', refusal: null },
      },
    ]);
  });
});

describe('anthropic adapter: streams', () => {
  it('translates text and tool-use deltas into OpenAI chunks, with usage when asked', () => {
    const { chunks, usage } = replay(fixture('messages-tool-use.stream.sse'), true);
    const deltas = chunks.map(
      (c) => (c.choices as { delta?: unknown; finish_reason?: unknown }[])[0],
    );
    expect(deltas).toEqual([
      { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
      { index: 0, delta: { content: 'Let me ' }, logprobs: null, finish_reason: null },
      { index: 0, delta: { content: 'check.' }, logprobs: null, finish_reason: null },
      {
        index: 0,
        delta: {
          tool_calls: [
            {
              index: 0,
              id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6',
              type: 'function',
              function: { name: 'get_weather', arguments: '' },
            },
          ],
        },
        logprobs: null,
        finish_reason: null,
      },
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, function: { arguments: '' } }] },
        logprobs: null,
        finish_reason: null,
      },
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, function: { arguments: '{"location": "Par' } }] },
        logprobs: null,
        finish_reason: null,
      },
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, function: { arguments: 'is"}' } }] },
        logprobs: null,
        finish_reason: null,
      },
      { index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' },
      undefined, // the usage chunk has no choices
    ]);
    expect(chunks.every((c) => c.id === 'msg_014p7gG3wDgGV9EUtLvnow3U')).toBe(true);
    expect(chunks.at(-1)?.usage).toEqual({
      prompt_tokens: 472,
      completion_tokens: 89,
      total_tokens: 561,
      prompt_tokens_details: { cached_tokens: 0 },
    });
    expect(usage).toEqual({ promptTokens: 472, completionTokens: 89, cachedTokens: 0 });
  });

  it('omits the usage chunk when the client did not ask, but still meters usage', () => {
    const { chunks, usage } = replay(fixture('messages-tool-use.stream.sse'), false);
    expect(chunks).toHaveLength(8);
    expect(chunks.some((c) => 'usage' in c)).toBe(false);
    expect(usage?.completionTokens).toBe(89);
  });

  it('surfaces an in-stream error event in OpenAI error shape', () => {
    const { chunks, error } = replay(fixture('overloaded-error.stream.sse'), false);
    expect(error).toBe('Overloaded');
    expect(chunks.at(-1)).toEqual({ error: { message: 'Overloaded', type: 'overloaded_error' } });
  });
});
