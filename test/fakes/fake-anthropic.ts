import type { IncomingMessage, ServerResponse } from 'node:http';
import { words } from './fake-openai-upstream.js';

/**
 * A fake of Anthropic's Messages API (POST /v1/messages) speaking the real wire format: content
 * blocks, tool_use / tool_result, stop_reason, usage, and the named-event SSE stream
 * (message_start … message_stop). Served by the fake upstream in fake-openai-upstream.ts.
 */
type Block = { type: string; text?: string; content?: unknown };
interface Message {
  role: string;
  content: string | Block[];
}

function blocks(m: Message): Block[] {
  return typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function anthropicMessages(
  req: IncomingMessage,
  body: Record<string, unknown>,
  res: ServerResponse,
): void {
  if (typeof req.headers['x-api-key'] !== 'string' || !req.headers['anthropic-version'])
    return send(res, 401, {
      type: 'error',
      error: { type: 'authentication_error', message: 'invalid x-api-key' },
    });
  if (typeof body.max_tokens !== 'number')
    return send(res, 400, {
      type: 'error',
      error: { type: 'invalid_request_error', message: 'max_tokens: Field required' },
    });
  const messages = (body.messages ?? []) as Message[];
  const last = messages.at(-1);
  const lastBlocks = last ? blocks(last) : [];
  const toolResult = lastBlocks.find((b) => b.type === 'tool_result');
  const question = lastBlocks
    .filter((b) => b.type === 'text')
    .map((b) => b.text ?? '')
    .join(' ');
  const wantsTool = Array.isArray(body.tools) && /weather/i.test(question) && !toolResult;
  const reply = toolResult ? `tool said: ${String(toolResult.content)}` : `echo: ${question}`;
  const input =
    words(typeof body.system === 'string' ? body.system : '') +
    messages.reduce(
      (n, m) =>
        n +
        1 +
        blocks(m).reduce(
          (k, b) => k + words(b.text ?? (typeof b.content === 'string' ? b.content : '')),
          0,
        ),
      0,
    );
  const output = wantsTool ? 7 : words(reply);
  const id = `msg_fake${Math.floor(Math.random() * 1e9)}`;
  const model = String(body.model);
  const toolUse = {
    type: 'tool_use',
    id: 'toolu_fake_1',
    name: 'get_weather',
    input: { location: 'Paris' },
  };
  const stopReason = wantsTool ? 'tool_use' : 'end_turn';
  if (body.stream !== true) {
    return send(res, 200, {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: wantsTool ? [toolUse] : [{ type: 'text', text: reply }],
      stop_reason: stopReason,
      stop_sequence: null,
      usage: { input_tokens: input, output_tokens: output },
    });
  }
  const events: [string, unknown][] = [
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: input, output_tokens: 1 },
        },
      },
    ],
    ['ping', { type: 'ping' }],
  ];
  if (wantsTool) {
    events.push(
      [
        'content_block_start',
        { type: 'content_block_start', index: 0, content_block: { ...toolUse, input: {} } },
      ],
      [
        'content_block_delta',
        {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'input_json_delta', partial_json: '{"location":' },
        },
      ],
      [
        'content_block_delta',
        {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'input_json_delta', partial_json: '"Paris"}' },
        },
      ],
    );
  } else {
    events.push([
      'content_block_start',
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    ]);
    for (const piece of reply.split(/(?<= )/))
      events.push([
        'content_block_delta',
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } },
      ]);
  }
  events.push(
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    [
      'message_delta',
      {
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { output_tokens: output },
      },
    ],
    ['message_stop', { type: 'message_stop' }],
  );
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [name, data] of events) res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  res.end();
}
