/**
 * Fake OpenAI-compatible upstream for the gateway benchmark (not a real model, not a test fake):
 * a bare `node:http` server, run in its own process so that it never competes with the gateway
 * under test for an event loop. It answers `POST /v1/chat/completions` with a fixed completion:
 * JSON with `usage`, or with `stream: true` an SSE stream (a role chunk, a few content chunks,
 * a usage chunk when `stream_options.include_usage` is set, then `data: [DONE]`).
 *
 *   node --import tsx bench/gateway/fake-upstream.ts [--chunk-gap-ms N]
 *
 * Prints `LISTENING <port>` once it accepts connections on 127.0.0.1.
 *
 * The role chunk and the first content chunk go out at once; later content chunks are spaced by
 * --chunk-gap-ms (default 1) so a gateway that buffered a stream instead of relaying it would
 * show up in time-to-first-token instead of hiding inside one TCP segment.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { 'chunk-gap-ms': { type: 'string' } } });
const chunkGapMs = Number(args['chunk-gap-ms'] ?? 1);

const WORDS = ['Hello', ' from', ' the', ' fake', ' upstream', '.'];
const PROMPT_TOKENS = 12;
const COMPLETION_TOKENS = WORDS.length;
const USAGE = {
  prompt_tokens: PROMPT_TOKENS,
  completion_tokens: COMPLETION_TOKENS,
  total_tokens: PROMPT_TOKENS + COMPLETION_TOKENS,
};
let seq = 0;

interface ChatBody {
  model?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

function completion(model: string): string {
  return JSON.stringify({
    id: `chatcmpl-fake-${++seq}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: WORDS.join('') },
        finish_reason: 'stop',
        logprobs: null,
      },
    ],
    usage: USAGE,
  });
}

function chunk(id: string, model: string, delta: object, finish: string | null): string {
  return `data: ${JSON.stringify({
    id,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  })}\n\n`;
}

function stream(res: ServerResponse, model: string, includeUsage: boolean): void {
  const id = `chatcmpl-fake-${++seq}`;
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
  });
  res.write(chunk(id, model, { role: 'assistant', content: '' }, null));
  let i = 0;
  const next = (): void => {
    if (res.destroyed) return;
    if (i < WORDS.length) {
      res.write(chunk(id, model, { content: WORDS[i] }, null));
      i++;
      if (chunkGapMs > 0) setTimeout(next, chunkGapMs);
      else next();
      return;
    }
    let tail = chunk(id, model, {}, 'stop');
    if (includeUsage)
      tail += `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', model, choices: [], usage: USAGE })}\n\n`;
    res.end(`${tail}data: [DONE]\n\n`);
  };
  next();
}

async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
    await readBody(req);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
    return;
  }
  let body: ChatBody;
  try {
    body = JSON.parse(await readBody(req)) as ChatBody;
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"malformed JSON","type":"invalid_request_error"}}');
    return;
  }
  const model = typeof body.model === 'string' ? body.model : 'unknown';
  if (body.stream === true) {
    stream(res, model, body.stream_options?.include_usage === true);
    return;
  }
  const json = completion(model);
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  answer(req, res).catch((err: unknown) => {
    res.destroy(err instanceof Error ? err : new Error(String(err)));
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`);
});
// Nothing to flush: the bench stops this process as soon as it has its figures.
process.on('SIGTERM', () => process.exit(0));
