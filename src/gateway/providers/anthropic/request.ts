import { isRecord, UnsupportedRequest, type ChatRequest } from '../types.js';

/** Anthropic requires max_tokens; this is used when the client sets neither limit. */
export const DEFAULT_MAX_TOKENS = 4096;

type Block = Record<string, unknown>;
interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((p) => (isRecord(p) && typeof p.text === 'string' ? p.text : ''))
      .filter(Boolean)
      .join('\n');
  return '';
}

function imageBlock(url: string): Block {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (m) return { type: 'image', source: { type: 'base64', media_type: m[1], data: m[2] } };
  return { type: 'image', source: { type: 'url', url } };
}

function userBlocks(content: unknown, at: string): Block[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  return content.map((part, i) => {
    if (isRecord(part) && part.type === 'text' && typeof part.text === 'string')
      return { type: 'text', text: part.text };
    if (isRecord(part) && part.type === 'image_url') {
      const img = part.image_url;
      const url = typeof img === 'string' ? img : isRecord(img) ? img.url : undefined;
      if (typeof url === 'string') return imageBlock(url);
    }
    throw new UnsupportedRequest(
      `This content part type is not supported by the anthropic provider.`,
      `${at}.content.${i}`,
    );
  });
}

function parseArguments(args: unknown): unknown {
  if (typeof args !== 'string' || args.trim() === '') return {};
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

function assistantBlocks(m: Record<string, unknown>): Block[] {
  const blocks: Block[] = [];
  const text = textOf(m.content);
  if (text) blocks.push({ type: 'text', text });
  if (Array.isArray(m.tool_calls)) {
    for (const call of m.tool_calls) {
      if (!isRecord(call) || !isRecord(call.function)) continue;
      blocks.push({
        type: 'tool_use',
        id: call.id,
        name: call.function.name,
        input: parseArguments(call.function.arguments),
      });
    }
  }
  return blocks;
}

function push(out: AnthropicMessage[], role: 'user' | 'assistant', blocks: Block[]): void {
  if (blocks.length === 0) return;
  const last = out[out.length - 1];
  // Anthropic wants alternating roles: consecutive turns of one role (e.g. several tool
  // results after a parallel tool call) become one message.
  if (last && last.role === role) last.content.push(...blocks);
  else out.push({ role, content: blocks });
}

function toolChoice(v: unknown, parallel: unknown): Block | undefined {
  let choice: Block | undefined;
  if (v === 'auto') choice = { type: 'auto' };
  else if (v === 'required') choice = { type: 'any' };
  else if (v === 'none') choice = { type: 'none' };
  else if (isRecord(v) && isRecord(v.function) && typeof v.function.name === 'string')
    choice = { type: 'tool', name: v.function.name };
  if (parallel === false)
    choice = { ...(choice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return choice;
}

/** Translates an OpenAI chat request into an Anthropic Messages API request. */
export function toAnthropicRequest(body: ChatRequest, model: string): Record<string, unknown> {
  if (typeof body.n === 'number' && body.n > 1)
    throw new UnsupportedRequest('n > 1 is not supported by the anthropic provider.', 'n');
  if (isRecord(body.response_format) && body.response_format.type !== 'text')
    throw new UnsupportedRequest(
      'response_format is not supported by the anthropic provider.',
      'response_format',
    );
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  body.messages.forEach((m, i) => {
    const at = `messages.${i}`;
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(textOf(m.content));
        break;
      case 'user':
        push(messages, 'user', userBlocks(m.content, at));
        break;
      case 'assistant':
        push(messages, 'assistant', assistantBlocks(m));
        break;
      case 'tool':
        push(messages, 'user', [
          { type: 'tool_result', tool_use_id: m.tool_call_id, content: textOf(m.content) },
        ]);
        break;
      default:
        throw new UnsupportedRequest(`Unknown message role.`, `${at}.role`);
    }
  });

  const out: Record<string, unknown> = {
    model,
    messages,
    max_tokens:
      typeof body.max_completion_tokens === 'number'
        ? body.max_completion_tokens
        : typeof body.max_tokens === 'number'
          ? body.max_tokens
          : DEFAULT_MAX_TOKENS,
  };
  if (system.length > 0) out.system = system.join('\n\n');
  if (typeof body.temperature === 'number') out.temperature = Math.min(body.temperature, 1);
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  if (typeof body.stop === 'string') out.stop_sequences = [body.stop];
  else if (Array.isArray(body.stop)) out.stop_sequences = body.stop;
  if (body.stream === true) out.stream = true;
  if (typeof body.user === 'string') out.metadata = { user_id: body.user };
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = body.tools.filter(isRecord).map((t) => {
      const fn = isRecord(t.function) ? t.function : {};
      return {
        name: fn.name,
        ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
        input_schema: isRecord(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
      };
    });
    const choice = toolChoice(body.tool_choice, body.parallel_tool_calls);
    if (choice) out.tool_choice = choice;
  }
  return out;
}
