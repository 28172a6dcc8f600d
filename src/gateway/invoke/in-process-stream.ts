import { z } from 'zod';
import { UpstreamFailed } from '../../platform/http/errors.js';
import type { ChatOutcome, ToolCall } from './in-process.js';
import type { ChatResult } from './invoke-service.js';
import { SseParser } from './sse.js';

const ToolCallDelta = z.object({
  index: z.number().int().min(0),
  id: z.string().optional(),
  function: z.object({ name: z.string().optional(), arguments: z.string().optional() }).optional(),
});
const Chunk = z.object({
  choices: z
    .array(
      z.object({
        delta: z
          .object({
            content: z.string().nullish(),
            tool_calls: z.array(ToolCallDelta).nullish(),
          })
          .nullish(),
      }),
    )
    .optional(),
  error: z.object({ message: z.string().optional() }).optional(),
});

type StreamResult = Extract<ChatResult, { kind: 'stream' }>;

/**
 * Reads the gateway's OpenAI-shaped stream (whatever the provider: adapters translate) into the
 * outcome of a non-streamed call: text deltas are handed to `onDelta` in order and joined,
 * tool-call deltas are assembled by index (id and name from the first, arguments appended).
 * Usage and cost are the ones the gateway metered when the stream ended.
 */
export async function readChatStream(
  result: StreamResult,
  onDelta: (text: string) => void,
): Promise<ChatOutcome> {
  const parser = new SseParser();
  let content = '';
  let sawContent = false;
  let failure: string | undefined;
  const calls = new Map<number, { id: string; name: string; arguments: string }>();
  const take = (data: string) => {
    if (data === '[DONE]') return;
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      failure = 'The model sent a malformed stream chunk.';
      return;
    }
    const chunk = Chunk.safeParse(value);
    if (!chunk.success) return;
    if (chunk.data.error) {
      failure = chunk.data.error.message ?? 'The upstream stream failed.';
      return;
    }
    const delta = chunk.data.choices?.[0]?.delta;
    if (!delta) return;
    if (typeof delta.content === 'string' && delta.content !== '') {
      sawContent = true;
      content += delta.content;
      onDelta(delta.content);
    }
    for (const d of delta.tool_calls ?? []) {
      const call = calls.get(d.index) ?? { id: '', name: '', arguments: '' };
      if (d.id) call.id = d.id;
      if (d.function?.name) call.name += d.function.name;
      if (d.function?.arguments) call.arguments += d.function.arguments;
      calls.set(d.index, call);
    }
  };
  for await (const chunk of result.stream as AsyncIterable<Buffer | string>)
    for (const ev of parser.push(chunk)) take(ev.data);
  for (const ev of parser.end()) take(ev.data);
  const settled = await result.settled;
  if (failure || (settled && settled.status !== 200))
    throw new UpstreamFailed(
      failure ?? 'The upstream stream failed before completing.',
      settled?.status === 504 ? 504 : 502,
    );
  const toolCalls: ToolCall[] = [...calls.entries()]
    .sort(([a], [b]) => a - b)
    .map(([i, c]) => ({
      id: c.id || `call_${i}`,
      type: 'function',
      function: { name: c.name, arguments: c.arguments },
    }));
  const usage = settled?.usage;
  return {
    content: sawContent ? content : null,
    usage: usage
      ? { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens }
      : undefined,
    body: {
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: sawContent ? content : null,
            ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
          },
        },
      ],
    },
    toolCalls,
    costUsd: settled?.costUsd ?? 0,
    provider: result.served?.provider ?? null,
    model: result.served?.model ?? null,
    redactions: result.redactions ?? 0,
  };
}
