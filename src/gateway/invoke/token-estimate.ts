import { countTokens } from 'gpt-tokenizer';
import type { Usage } from '../providers/types.js';

// OpenAI's published accounting for chat prompts: each message costs a few framing tokens on
// top of its content, and the reply is primed with a few more. Close enough for an estimate.
const TOKENS_PER_MESSAGE = 3;
const REPLY_PRIMING_TOKENS = 3;

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((p: unknown) =>
        typeof p === 'object' && p !== null && typeof (p as { text?: unknown }).text === 'string'
          ? (p as { text: string }).text
          : '',
      )
      .join('');
  return '';
}

function toolCallsText(calls: unknown): string {
  if (!Array.isArray(calls)) return '';
  let out = '';
  for (const c of calls as { function?: { name?: unknown; arguments?: unknown } }[]) {
    if (typeof c?.function?.name === 'string') out += c.function.name;
    if (typeof c?.function?.arguments === 'string') out += c.function.arguments;
  }
  return out;
}

/** Prompt tokens of a chat request, counted offline (message text, tool calls and tool schemas). */
export function estimatePromptTokens(body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? (body.messages as Record<string, unknown>[]) : [];
  let n = REPLY_PRIMING_TOKENS;
  for (const m of messages) {
    const text = textOf(m.content) + toolCallsText(m.tool_calls);
    n += TOKENS_PER_MESSAGE + (text ? countTokens(text) : 0);
  }
  if (Array.isArray(body.tools) && body.tools.length > 0)
    n += countTokens(JSON.stringify(body.tools));
  return n;
}

/** Input tokens of an embeddings request: strings are counted, token arrays are their length. */
export function estimateEmbeddingTokens(input: unknown): number {
  const items = Array.isArray(input) ? input : [input];
  if (items.length > 0 && items.every((x) => typeof x === 'number')) return items.length;
  let n = 0;
  for (const x of items) {
    if (typeof x === 'string') n += countTokens(x);
    else if (Array.isArray(x)) n += x.length;
  }
  return n;
}

/** Completion text of a non-streaming chat response: every choice's content and tool calls. */
export function responseText(body: Record<string, unknown>): string {
  const choices = Array.isArray(body.choices) ? (body.choices as Record<string, unknown>[]) : [];
  let out = '';
  for (const c of choices) {
    const m = c.message as Record<string, unknown> | undefined;
    if (m) out += textOf(m.content) + toolCallsText(m.tool_calls);
  }
  return out;
}

/** Completion text of a relayed stream, from the chat.completion.chunk payloads sent to the client. */
export function streamText(payloads: readonly string[]): string {
  let out = '';
  for (const p of payloads) {
    let chunk: unknown;
    try {
      chunk = JSON.parse(p);
    } catch {
      continue;
    }
    const choices = (chunk as { choices?: unknown }).choices;
    if (!Array.isArray(choices)) continue;
    for (const c of choices as { delta?: Record<string, unknown> }[]) {
      if (c.delta) out += textOf(c.delta.content) + toolCallsText(c.delta.tool_calls);
    }
  }
  return out;
}

/** A chat usage estimated offline, for an upstream answer that reported none. */
export function estimateChatUsage(body: Record<string, unknown>, completion: string): Usage {
  return {
    promptTokens: estimatePromptTokens(body),
    completionTokens: completion ? countTokens(completion) : 0,
    cachedTokens: 0,
  };
}

/**
 * The usage to meter for an ended stream: the provider's, else an offline estimate for a
 * complete stream. A broken stream without usage stays undefined, so its reservation is charged
 * in full (how much the upstream really produced is unknown).
 */
export function streamUsage(
  reported: Usage | undefined,
  status: number,
  body: Record<string, unknown>,
  sent: readonly string[],
): { usage: Usage | undefined; estimated: boolean } {
  if (reported || status !== 200) return { usage: reported, estimated: false };
  return { usage: estimateChatUsage(body, streamText(sent)), estimated: true };
}
