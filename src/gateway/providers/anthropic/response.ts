import { isRecord, num, type Usage } from '../types.js';

/** Anthropic stop_reason → OpenAI finish_reason. */
export function finishReason(stop: unknown): string | null {
  switch (stop) {
    case 'end_turn':
    case 'stop_sequence':
    case 'pause_turn':
      return 'stop';
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return stop === null || stop === undefined ? null : 'stop';
  }
}

/** Anthropic usage → gateway usage. Anthropic counts cache reads/writes apart from input_tokens. */
export function anthropicUsage(u: unknown): Usage | undefined {
  if (!isRecord(u)) return undefined;
  const cacheRead = num(u.cache_read_input_tokens);
  const cacheWrite = num(u.cache_creation_input_tokens);
  return {
    promptTokens: num(u.input_tokens) + cacheRead + cacheWrite,
    completionTokens: num(u.output_tokens),
    cachedTokens: cacheRead,
  };
}

export function openAIUsageBody(u: Usage): Record<string, unknown> {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
  };
}

/** Translates an Anthropic Messages response into an OpenAI chat.completion. */
export function fromAnthropicResponse(json: unknown): {
  body: Record<string, unknown>;
  usage: Usage | undefined;
} {
  const msg = isRecord(json) ? json : {};
  const blocks = Array.isArray(msg.content) ? msg.content.filter(isRecord) : [];
  const text = blocks
    .filter((b) => b.type === 'text' && typeof b.text === 'string')
    .map((b) => b.text as string)
    .join('');
  const toolCalls = blocks
    .filter((b) => b.type === 'tool_use')
    .map((b) => ({
      id: b.id,
      type: 'function',
      function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) },
    }));
  const usage = anthropicUsage(msg.usage);
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: text === '' && toolCalls.length > 0 ? null : text,
    refusal: null,
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return {
    body: {
      id: typeof msg.id === 'string' ? msg.id : `chatcmpl-${crypto.randomUUID()}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: msg.model,
      choices: [
        { index: 0, message, logprobs: null, finish_reason: finishReason(msg.stop_reason) },
      ],
      ...(usage ? { usage: openAIUsageBody(usage) } : {}),
    },
    usage,
  };
}
