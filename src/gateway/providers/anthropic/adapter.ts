import {
  isRecord,
  joinUrl,
  perProvider,
  type ChatRequest,
  type ProviderAdapter,
  type ProviderConfig,
  type UpstreamCall,
} from '../types.js';
import { toAnthropicRequest } from './request.js';
import { fromAnthropicResponse } from './response.js';
import { AnthropicStream } from './stream.js';

export const ANTHROPIC_VERSION = '2023-06-01';

// Built once per provider settings object, not per request.
const messagesCall = perProvider((p) => ({
  url: joinUrl(p.baseUrl, '/v1/messages'),
  headers: Object.assign({ 'anthropic-version': ANTHROPIC_VERSION }, p.headers, {
    'x-api-key': p.apiKey,
    'content-type': 'application/json',
  }),
}));

/** Anthropic Messages API. The base URL is the API root (https://api.anthropic.com). */
export const anthropicAdapter: ProviderAdapter = {
  type: 'anthropic',

  chatRequest(p: ProviderConfig, body: ChatRequest, model: string): UpstreamCall {
    const { url, headers } = messagesCall(p);
    return { url, headers, body: JSON.stringify(toAnthropicRequest(body, model)) };
  },

  chatResponse: fromAnthropicResponse,

  chatStream({ includeUsage }) {
    return new AnthropicStream(includeUsage);
  },

  errorMessage(json: unknown): string | undefined {
    if (isRecord(json) && isRecord(json.error) && typeof json.error.message === 'string')
      return json.error.message;
    return undefined;
  },
};
