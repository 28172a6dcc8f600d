import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { anthropicMessages } from './fake-anthropic.js';

/**
 * A fake OpenAI-compatible upstream speaking the real wire protocol (JSON bodies, SSE streams
 * with `data: …` framing, `[DONE]`, stream usage when asked), for tests and benchmarks. Answers
 * are deterministic: the reply echoes the last user message, and token counts are word counts,
 * so tests can assert exact usage and cost.
 *
 * Faults by model name: `fail-500` answers 500, `fail-429` answers 429 with Retry-After,
 * `reject-400` answers 400, `break-stream` cuts the connection after two chunks, `slow-stream`
 * sends one chunk and then waits for the client to go away (a stalled stream), `drip-stream`
 * streams normally but waits DRIP_MS between events, `flaky-500` / `flaky-429` fail (500, or
 * 429 with Retry-After: 1) the first time they see a prompt and answer normally after that,
 * `reset` destroys the connection without answering, `hang` never sends response headers,
 * `malformed` answers 200 with a truncated JSON body, `no-usage` answers normally but reports
 * no usage (no `usage` field, no stream usage chunk even when asked); any request whose last message asks for
 * the weather (with tools given) gets a tool call.
 *
 * It also answers Anthropic's Messages API (POST /v1/messages, JSON and SSE) the same way, in
 * fake-anthropic.ts.
 */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  /** Date.now() when the request had been read. */
  at: number;
}

/** Pause between the events of a `drip-stream` answer. */
export const DRIP_MS = 120;

export interface FakeUpstream {
  url: string;
  /** Base URL of the OpenAI-style API, e.g. http://127.0.0.1:1234/v1 */
  baseUrl: string;
  requests: ReceivedRequest[];
  /** Requests whose connection the client closed before the response was complete. */
  abandoned: number;
  close(): Promise<void>;
}

export const words = (s: string): number => s.split(/\s+/).filter(Boolean).length;

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((p: unknown) => (typeof p === 'object' && p && 'text' in p ? String(p.text) : ''))
      .join(' ');
  return '';
}

function promptTokens(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  return messages.reduce<number>(
    (n, m: unknown) => n + words(textOf((m as { content?: unknown }).content)) + 1,
    0,
  );
}

/** What model 'verbatim' answers, byte for byte. */
export const VERBATIM_BODY = `{
  "id": "chatcmpl-verbatim", "object": "chat.completion", "created": 1.0e9,
  "model": "verbatim", "vendor_extension": {"score": 1.50, "note": "caf\\u00e9"},
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "as sent"}, "finish_reason": "stop"}],
  "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
}`;

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function error(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  json(res, status, { error: { message, type: 'server_error', code: null, param: null } }, headers);
}

function chat(body: Record<string, unknown>, res: ServerResponse): void {
  const model = String(body.model);
  const messages = (body.messages ?? []) as { role: string; content?: unknown }[];
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const question = textOf(lastUser?.content);
  const wantsTool =
    Array.isArray(body.tools) &&
    body.tools.length > 0 &&
    /weather/i.test(question) &&
    messages.at(-1)?.role === 'user';
  const reply = `echo: ${question}`;
  const prompt = promptTokens(messages);
  const completion = wantsTool ? 5 : words(reply);
  const omitUsage = model === 'no-usage';
  const usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0 },
  };
  const id = `chatcmpl-fake${Math.floor(Math.random() * 1e9)}`;
  const created = Math.floor(Date.now() / 1000);
  const toolCall = {
    id: 'call_fake_1',
    type: 'function',
    function: { name: 'get_weather', arguments: '{"location":"Paris"}' },
  };
  if (body.stream !== true) {
    json(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [
        {
          index: 0,
          message: wantsTool
            ? { role: 'assistant', content: null, tool_calls: [toolCall], refusal: null }
            : { role: 'assistant', content: reply, refusal: null },
          logprobs: null,
          finish_reason: wantsTool ? 'tool_calls' : 'stop',
        },
      ],
      ...(omitUsage ? {} : { usage }),
    });
    return;
  }
  const includeUsage =
    (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const events: unknown[] = [chunk({ role: 'assistant', content: '' }, null)];
  if (wantsTool) {
    events.push(
      chunk(
        {
          tool_calls: [
            {
              index: 0,
              id: toolCall.id,
              type: 'function',
              function: { name: 'get_weather', arguments: '' },
            },
          ],
        },
        null,
      ),
    );
    events.push(
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"location":' } }] }, null),
    );
    events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, null));
    events.push(chunk({}, 'tool_calls'));
  } else {
    // One delta per word, so clients really assemble the text.
    reply.split(/(?<= )/).forEach((piece) => events.push(chunk({ content: piece }, null)));
    events.push(chunk({}, 'stop'));
  }
  if (includeUsage && !omitUsage)
    events.push({ id, object: 'chat.completion.chunk', created, model, choices: [], usage });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (model === 'break-stream') {
    for (const e of events.slice(0, 2)) res.write(`data: ${JSON.stringify(e)}\n\n`);
    setTimeout(() => res.socket?.destroy(), 20);
    return;
  }
  if (model === 'drip-stream') {
    let i = 0;
    const next = () => {
      if (res.destroyed) return;
      if (i < events.length) {
        res.write(`data: ${JSON.stringify(events[i++])}\n\n`);
        setTimeout(next, DRIP_MS);
      } else res.end('data: [DONE]\n\n');
    };
    next();
    return;
  }
  if (model === 'slow-stream') {
    res.write(`data: ${JSON.stringify(events[0])}\n\n`);
    return; // never ends: only the client going away ends it
  }
  for (const e of events) res.write(`data: ${JSON.stringify(e)}\n\n`);
  res.end('data: [DONE]\n\n');
}

function embeddings(body: Record<string, unknown>, res: ServerResponse): void {
  const inputs = Array.isArray(body.input) ? body.input.map(String) : [String(body.input)];
  const data = inputs.map((text, index) => {
    // A deterministic 4-dimensional vector derived from the text.
    const vector = [text.length, words(text), text.charCodeAt(0) || 0, 1].map((v) => v / 100);
    // Like the real API: base64 of little-endian float32s when asked (the openai SDK's default).
    const embedding =
      body.encoding_format === 'base64'
        ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
        : vector;
    return { object: 'embedding', index, embedding };
  });
  const tokens = inputs.reduce((n, t) => n + words(t), 0);
  json(res, 200, {
    object: 'list',
    data,
    model: body.model,
    ...(body.model === 'no-usage'
      ? {}
      : { usage: { prompt_tokens: tokens, total_tokens: tokens } }),
  });
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  requests: ReceivedRequest[],
  seen: Set<string>,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  let body: Record<string, unknown> = {};
  if (chunks.length > 0) {
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      return error(res, 400, 'We could not parse the JSON body of your request.');
    }
  }
  requests.push({
    method: req.method ?? '',
    url: req.url ?? '',
    headers: req.headers,
    body,
    at: Date.now(),
  });
  if (req.method === 'POST' && req.url === '/v1/messages') return anthropicMessages(req, body, res);
  if (!req.headers.authorization?.startsWith('Bearer '))
    return error(res, 401, 'You did not provide an API key.');
  const model = String(body.model ?? '');
  if (model === 'fail-500')
    return error(res, 500, 'The server had an error while processing your request.');
  if (model === 'fail-429')
    return error(res, 429, 'Rate limit reached for requests', { 'retry-after': '1' });
  if (model === 'reject-400') return error(res, 400, "Invalid value for 'temperature'.");
  if (model === 'flaky-500' || model === 'flaky-429') {
    const key = `${model}\u0000${JSON.stringify(body.messages ?? body.input)}`;
    if (!seen.has(key)) {
      seen.add(key);
      return model === 'flaky-500'
        ? error(res, 500, 'The server had an error while processing your request.')
        : error(res, 429, 'Rate limit reached for requests', { 'retry-after': '1' });
    }
  }
  if (model === 'reset') {
    req.socket.destroy();
    return;
  }
  if (model === 'hang') return; // no headers, ever: only the client going away ends it
  if (model === 'malformed') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"id":"chatcmpl-broken","object":"chat.completion","choices":[{"ind');
    return;
  }
  if (model === 'verbatim') {
    // Formatting and fields that a parse and re-serialize would change: the gateway relays it as is.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(VERBATIM_BODY);
    return;
  }
  if (req.method === 'POST' && req.url === '/v1/chat/completions') return chat(body, res);
  if (req.method === 'POST' && req.url === '/v1/embeddings') return embeddings(body, res);
  error(res, 404, `Unknown request URL: ${req.method} ${req.url}.`);
}

/** Starts the fake upstream on 127.0.0.1 and a random port. */
export async function startFakeOpenAI(): Promise<FakeUpstream> {
  const requests: ReceivedRequest[] = [];
  const seen = new Set<string>();
  let abandoned = 0;
  const server: Server = createServer((req, res) => {
    res.on('close', () => {
      if (!res.writableFinished) abandoned += 1;
    });
    handle(req, res, requests, seen).catch((err: unknown) => error(res, 500, String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    baseUrl: `${url}/v1`,
    requests,
    get abandoned() {
      return abandoned;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
