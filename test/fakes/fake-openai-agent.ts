import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake OpenAI-compatible chat upstream for the copilot's tests, speaking the real wire
 * protocol: POST /v1/chat/completions answers with what `script` returns for the request — text,
 * or `tool_calls` (OpenAI's function-calling shape, arguments as JSON text) — and a usage block.
 * Every request (messages and the `tools` offered) is recorded. With `stream: true` the same
 * answer is sent as OpenAI's chunked SSE: the text a few characters at a time, each tool call
 * as a first delta (id, name) followed by its arguments in pieces, then usage when
 * `stream_options.include_usage` asks for it, then `[DONE]`.
 */
export interface AgentRequest {
  model: string;
  messages: {
    role: string;
    content: string | null;
    tool_call_id?: string;
    tool_calls?: { id: string; function: { name: string; arguments: string } }[];
  }[];
  tools: { type: string; function: { name: string; parameters: unknown } }[];
}

export type AgentReply =
  { content: string } | { toolCalls: { name: string; arguments: unknown }[]; content?: string };

export interface AgentUpstream {
  baseUrl: string;
  requests: AgentRequest[];
  script: (req: AgentRequest, n: number) => AgentReply;
  usage: { prompt_tokens: number; completion_tokens: number };
  /** Characters per text delta of a streamed answer (3 unless set). */
  streamPiece: number;
  /** How many requests asked for a stream. */
  streamed: number;
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** The tool messages of a request, by the name the model called (as the fake gave them). */
export function toolResults(req: AgentRequest): unknown[] {
  return req.messages.filter((m) => m.role === 'tool').map((m) => JSON.parse(m.content ?? 'null'));
}

export async function startAgentUpstream(): Promise<AgentUpstream> {
  let counter = 0;
  const state: Omit<AgentUpstream, 'baseUrl' | 'close'> = {
    requests: [],
    script: () => ({ content: 'Done.' }),
    usage: { prompt_tokens: 100, completion_tokens: 20 },
    streamPiece: 3,
    streamed: 0,
  };
  const server = createServer((req, res) => {
    void readJson(req).then((body) => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions')
        return send(res, 404, { error: { message: 'not found' } });
      const request: AgentRequest = {
        model: String(body.model ?? ''),
        messages: (body.messages ?? []) as AgentRequest['messages'],
        tools: (body.tools ?? []) as AgentRequest['tools'],
      };
      state.requests.push(request);
      const reply = state.script(request, state.requests.length);
      const message =
        'toolCalls' in reply
          ? {
              role: 'assistant',
              content: reply.content ?? null,
              tool_calls: reply.toolCalls.map((c) => ({
                id: `call_${++counter}`,
                type: 'function',
                function: {
                  name: c.name,
                  arguments:
                    typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
                },
              })),
            }
          : { role: 'assistant', content: reply.content };
      if (body.stream === true) {
        state.streamed += 1;
        return sendStream(res, request.model, message, body, state);
      }
      send(res, 200, {
        id: `chatcmpl-${counter}`,
        object: 'chat.completion',
        model: request.model,
        choices: [
          {
            index: 0,
            message,
            finish_reason: 'toolCalls' in reply ? 'tool_calls' : 'stop',
          },
        ],
        usage: {
          ...state.usage,
          total_tokens: state.usage.prompt_tokens + state.usage.completion_tokens,
        },
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}

/** Splits text into pieces of at most `size` characters (at least one piece). */
function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function sendStream(
  res: ServerResponse,
  model: string,
  message: {
    content: string | null;
    tool_calls?: { id: string; function: { name: string; arguments: string } }[];
  },
  body: Record<string, unknown>,
  { usage, streamPiece }: Pick<AgentUpstream, 'usage' | 'streamPiece'>,
): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const id = `chatcmpl-stream-${Date.now()}`;
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    res.write(
      `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        model,
        choices: [{ index: 0, delta, finish_reason: finish }],
      })}\n\n`,
    );
  chunk({ role: 'assistant', content: '' });
  if (message.content) for (const p of pieces(message.content, streamPiece)) chunk({ content: p });
  (message.tool_calls ?? []).forEach((c, index) => {
    chunk({
      tool_calls: [
        { index, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } },
      ],
    });
    for (const p of pieces(c.function.arguments, 5))
      chunk({ tool_calls: [{ index, function: { arguments: p } }] });
  });
  chunk({}, message.tool_calls ? 'tool_calls' : 'stop');
  const opts = body.stream_options as { include_usage?: boolean } | undefined;
  if (opts?.include_usage)
    res.write(
      `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        model,
        choices: [],
        usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
      })}\n\n`,
    );
  res.end('data: [DONE]\n\n');
}
