import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalHashEmbedder } from '../../src/knowledge/embed.js';

/**
 * A fake OpenAI-compatible upstream speaking the real wire protocol for the knowledge hub's
 * tests: POST /v1/chat/completions answers with whatever `chatReply` returns for the request
 * (scripted per test), POST /v1/embeddings answers with the local hashed embedder's vectors
 * (1024 dimensions, so search works end to end). `failNext` queues statuses to answer with
 * before succeeding again, e.g. [500] for one server error.
 */
export interface ScriptedUpstream {
  baseUrl: string;
  chatRequests: { messages: { role: string; content: string }[]; model: string }[];
  embeddingRequests: { model: string; input: string[] }[];
  chatReply: (messages: { role: string; content: string }[]) => string;
  failNext: number[];
  close(): Promise<void>;
}

const embedder = new LocalHashEmbedder();

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') as Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startScriptedUpstream(): Promise<ScriptedUpstream> {
  const state: Omit<ScriptedUpstream, 'baseUrl' | 'close'> = {
    chatRequests: [],
    embeddingRequests: [],
    chatReply: () => 'No answer scripted.',
    failNext: [],
  };
  const server = createServer((req, res) => {
    void readJson(req).then((body) => {
      const model = String(body.model ?? '');
      if (req.method === 'POST' && req.url === '/v1/chat/completions') {
        const messages = body.messages as { role: string; content: string }[];
        state.chatRequests.push({ messages, model });
        const status = state.failNext.shift();
        if (status) return send(res, status, { error: { message: 'scripted failure' } });
        return send(res, 200, {
          id: 'chatcmpl-fake',
          object: 'chat.completion',
          model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: state.chatReply(messages) },
              finish_reason: 'stop',
            },
          ],
        });
      }
      if (req.method === 'POST' && req.url === '/v1/embeddings') {
        const input = body.input as string[];
        state.embeddingRequests.push({ model, input });
        const status = state.failNext.shift();
        if (status) return send(res, status, { error: { message: 'scripted failure' } });
        return send(res, 200, {
          object: 'list',
          model,
          data: input.map((t, index) => ({
            object: 'embedding',
            index,
            embedding: embedder.embedOne(t),
          })),
        });
      }
      send(res, 404, { error: { message: 'not found' } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}
