import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientCancel } from './cancel.js';
import { openAIAdapter } from '../providers/openai/adapter.js';
import { relayStream } from './stream-relay.js';

const chunk = (i: number): string =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: `w${i} ${'x'.repeat(500)}` } }] })}\n\n`;

/** A real SSE upstream whose behaviour each test picks by path. */
const scripts: Record<string, (res: ServerResponse) => void> = {
  // 400 events of ~600 bytes: far more than a Readable's buffer, so backpressure must hold.
  '/many': (res) => {
    for (let i = 0; i < 400; i++) res.write(chunk(i));
    res.end('data: [DONE]\n\n');
  },
  // One event, then the connection breaks.
  '/broken': (res) => {
    res.write(chunk(0));
    setTimeout(() => res.socket?.destroy(), 20);
  },
  // One event, then silence until the client goes away.
  '/hang': (res) => res.write(chunk(0)),
};

describe('relayStream', () => {
  let server: Server;
  let url: string;
  let closed = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.on('close', () => (closed += 1));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      scripts[req.url ?? '']?.(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  async function relay(path: string) {
    const signal = new ClientCancel();
    const res = await request(`${url}${path}`, { signal });
    const ends: { status: number; sent: number }[] = [];
    let firsts = 0;
    const stream = relayStream({
      res: { status: res.statusCode, headers: res.headers, body: res.body },
      translator: openAIAdapter.chatStream({ includeUsage: false }),
      signal,
      logger: pino({ level: 'silent' }),
      requestId: 'req-1',
      onFirstChunk: () => (firsts += 1),
      onEnd: (status, sent) => ends.push({ status, sent: sent.length }),
    });
    return { stream, body: res.body, signal, ends, firsts: () => firsts };
  }

  async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
    let out = '';
    for await (const c of stream) out += String(c);
    return out;
  }

  it('pauses the upstream while the client does not read, then relays every event in order', async () => {
    const r = await relay('/many');
    await sleep(100);
    // Nobody read: the relay buffered up to its limit and stopped the upstream body.
    expect(r.body.isPaused()).toBe(true);
    expect(r.ends).toEqual([]);
    const out = await readAll(r.stream);
    const events = out.split('\n\n').filter(Boolean);
    expect(events).toHaveLength(401);
    expect(events.slice(0, 400).map((e) => /w(\d+) /.exec(e)?.[1])).toEqual(
      Array.from({ length: 400 }, (_, i) => String(i)),
    );
    expect(events[400]).toBe('data: [DONE]');
    expect(r.ends).toEqual([{ status: 200, sent: 400 }]);
    expect(r.firsts()).toBe(1);
  });

  it('ends with an error event and 502 when the upstream breaks mid-stream', async () => {
    const r = await relay('/broken');
    const out = await readAll(r.stream);
    const events = out.split('\n\n').filter(Boolean);
    expect(events).toHaveLength(2);
    expect(events[0]).toContain('w0 ');
    expect(JSON.parse(events[1]!.slice('data: '.length))).toMatchObject({
      error: { type: 'api_error', code: 'upstream_stream_failed' },
    });
    expect(events.join('')).not.toContain('[DONE]');
    expect(r.ends).toEqual([{ status: 502, sent: 1 }]);
  });

  it('records 499 once and closes the upstream when the client goes away', async () => {
    const before = closed;
    const r = await relay('/hang');
    const first = await new Promise<string>((resolve) =>
      r.stream.once('data', (c) => resolve(String(c))),
    );
    expect(first).toContain('w0 ');
    // What the HTTP layer does when the client disconnects: cancel, then destroy the relay.
    r.signal.abort();
    r.stream.destroy();
    await expect.poll(() => closed).toBe(before + 1);
    expect(r.body.destroyed).toBe(true);
    expect(r.ends).toEqual([{ status: 499, sent: 1 }]);
  });
});
