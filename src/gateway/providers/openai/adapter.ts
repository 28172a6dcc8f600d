import {
  isRecord,
  joinUrl,
  num,
  perProvider,
  type ChatRequest,
  type EmbeddingsRequest,
  type ProviderAdapter,
  type ProviderConfig,
  type StreamTranslator,
  type UpstreamCall,
  type Usage,
} from '../types.js';
import type { SseEvent } from '../../invoke/sse.js';

/** Reads OpenAI's usage object (chat or embeddings). */
export function openAIUsage(v: unknown): Usage | undefined {
  if (!isRecord(v)) return undefined;
  const details = isRecord(v.prompt_tokens_details) ? v.prompt_tokens_details : {};
  return {
    promptTokens: num(v.prompt_tokens),
    completionTokens: num(v.completion_tokens),
    cachedTokens: num(details.cached_tokens),
  };
}

// Built once per provider settings object (an object spread followed by new keys costs V8 over
// a microsecond, on every request otherwise).
const headers = perProvider((p): Record<string, string> =>
  Object.assign({}, p.headers, {
    authorization: `Bearer ${p.apiKey}`,
    'content-type': 'application/json',
  }),
);
const chatUrl = perProvider((p) => joinUrl(p.baseUrl, '/chat/completions'));
const embeddingsUrl = perProvider((p) => joinUrl(p.baseUrl, '/embeddings'));

/**
 * Streams from an OpenAI-compatible upstream are forwarded event by event with their data
 * unchanged. The gateway always asks for usage (stream_options.include_usage); when the client
 * did not, the final usage-only chunk is read and then dropped.
 */
class OpenAIStream implements StreamTranslator {
  usage: Usage | undefined;
  error: string | undefined;
  constructor(private readonly includeUsage: boolean) {}

  push(event: SseEvent): string[] {
    if (event.data === '[DONE]') return [];
    // Cheap pre-check: only chunks that mention usage or error need a parse.
    if (!event.data.includes('"usage"') && !event.data.includes('"error"')) return [event.data];
    let chunk: unknown;
    try {
      chunk = JSON.parse(event.data);
    } catch {
      return [event.data];
    }
    if (isRecord(chunk)) {
      if (isRecord(chunk.error))
        this.error = typeof chunk.error.message === 'string' ? chunk.error.message : 'error';
      const usage = openAIUsage(chunk.usage);
      if (usage) {
        this.usage = usage;
        if (!this.includeUsage && Array.isArray(chunk.choices) && chunk.choices.length === 0)
          return [];
      }
    }
    return [event.data];
  }

  end(): string[] {
    return [];
  }
}

export const openAIAdapter: ProviderAdapter = {
  type: 'openai',
  // The responses are OpenAI's format already: read for usage, relayed byte for byte.
  relaysBody: true,

  chatRequest(p: ProviderConfig, body: ChatRequest, model: string): UpstreamCall {
    const out: Record<string, unknown> = { ...body, model };
    if (body.stream === true) {
      const asked = isRecord(body.stream_options) ? body.stream_options : {};
      out.stream_options = Object.assign({}, asked, { include_usage: true });
    }
    return {
      url: chatUrl(p),
      headers: headers(p),
      body: JSON.stringify(out),
    };
  },

  chatResponse(json: unknown) {
    const body = isRecord(json) ? json : {};
    return { body, usage: openAIUsage(body.usage) };
  },

  chatStream({ includeUsage }) {
    return new OpenAIStream(includeUsage);
  },

  embeddingsRequest(p: ProviderConfig, body: EmbeddingsRequest, model: string): UpstreamCall {
    return {
      url: embeddingsUrl(p),
      headers: headers(p),
      body: JSON.stringify({ ...body, model }),
    };
  },

  embeddingsResponse(json: unknown) {
    const body = isRecord(json) ? json : {};
    return { body, usage: openAIUsage(body.usage) };
  },

  errorMessage(json: unknown): string | undefined {
    if (isRecord(json) && isRecord(json.error) && typeof json.error.message === 'string')
      return json.error.message;
    return undefined;
  },
};
