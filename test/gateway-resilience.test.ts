import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

interface UsageRow {
  provider: string | null;
  target_model: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: string | number | null;
  status: number;
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.each(testDrivers())(
  'gateway: Anthropic translation and upstream faults (%s)',
  (driver) => {
    let t: TestDatabase;
    let app: TestApp;
    let fake: FakeUpstream;
    let tenant: { id: string; ownerKey: string };
    let client: OpenAI;
    let baseURL: string;

    async function usageRows(requestId: string | null): Promise<UsageRow[]> {
      await app.gateway.usage.flush();
      const { rows } = await t.db.withTenant({ tenantId: tenant.id, groups: [] }, (tx) =>
        tx.query<UsageRow>(
          `SELECT provider, target_model, prompt_tokens, completion_tokens, cost_usd, status
           FROM usage_events WHERE request_id = $1`,
          [requestId],
        ),
      );
      return rows;
    }

    beforeAll(async () => {
      t = await createTestDatabase(driver);
      fake = await startFakeOpenAI();
      app = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY });
      await app.app.listen({ port: 0, host: '127.0.0.1' });
      baseURL = `http://127.0.0.1:${(app.app.server.address() as AddressInfo).port}/v1`;
      tenant = await app.createTenant();
      client = new OpenAI({ apiKey: tenant.ownerKey, baseURL, maxRetries: 0 });
      const providers = [
        { name: 'main', type: 'openai', baseUrl: fake.baseUrl, apiKey: 'sk-main-123456' },
        { name: 'claude', type: 'anthropic', baseUrl: fake.url, apiKey: 'sk-ant-123456' },
        // Port 1 on localhost refuses connections.
        {
          name: 'dead',
          type: 'openai',
          baseUrl: 'http://127.0.0.1:1/v1',
          apiKey: 'sk-dead-123456',
        },
      ];
      for (const p of providers) {
        const r = await app.app.inject({
          method: 'POST',
          url: '/v1/providers',
          headers: bearer(tenant.ownerKey),
          payload: p,
        });
        expect(r.statusCode, r.body).toBe(201);
      }
      const routes = [
        {
          alias: 'smart',
          targets: [{ provider: 'claude', model: 'claude-3-5-haiku-latest', weight: 1 }],
        },
        {
          alias: 'resilient',
          targets: [{ provider: 'dead', model: 'gpt-4o-mini', weight: 1 }],
          fallbacks: [{ provider: 'main', model: 'gpt-4o-mini' }],
        },
        { alias: 'broken', targets: [{ provider: 'main', model: 'break-stream', weight: 1 }] },
        { alias: 'slow', targets: [{ provider: 'main', model: 'slow-stream', weight: 1 }] },
        { alias: '*', targets: [{ provider: 'main', model: '*', weight: 1 }] },
      ];
      for (const r of routes) {
        const res = await app.app.inject({
          method: 'POST',
          url: '/v1/routes',
          headers: bearer(tenant.ownerKey),
          payload: r,
        });
        expect(res.statusCode, res.body).toBe(201);
      }
    });
    afterAll(async () => {
      // The test process's fetch pool may hold a connection that never sent a request; Node
      // counts it as active, so a graceful close would wait out the keep-alive timeout.
      app?.app.server.closeAllConnections();
      await app?.close();
      await fake?.close();
      await t?.close();
    });

    it('anthropic: a chat with a system message is translated both ways, with usage and cost', async () => {
      const { data, response } = await client.chat.completions
        .create({
          model: 'smart',
          messages: [
            { role: 'system', content: 'You are terse.' },
            { role: 'user', content: 'hi claude' },
          ],
        })
        .withResponse();
      expect(data.object).toBe('chat.completion');
      expect(data.choices[0]?.message.content).toBe('echo: hi claude');
      expect(data.choices[0]?.finish_reason).toBe('stop');
      const sent = fake.requests.at(-1);
      expect(sent?.url).toBe('/v1/messages');
      expect(sent?.headers['x-api-key']).toBe('sk-ant-123456');
      expect(sent?.body).toEqual({
        model: 'claude-3-5-haiku-latest',
        system: 'You are terse.',
        max_tokens: 4096,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi claude' }] }],
      });
      // input: system 3 words + (1 + 2) = 6; output: "echo: hi claude" = 3.
      expect(data.usage).toMatchObject({ prompt_tokens: 6, completion_tokens: 3, total_tokens: 9 });
      const [row] = await usageRows(response.headers.get('x-request-id'));
      expect(row).toMatchObject({
        provider: 'claude',
        target_model: 'claude-3-5-haiku-latest',
        prompt_tokens: 6,
        completion_tokens: 3,
        status: 200,
      });
      expect(Number(row?.cost_usd)).toBeCloseTo((6 * 0.8 + 3 * 4) / 1e6, 15);
    });

    it('anthropic: streaming text and a full tool round trip through the openai SDK', async () => {
      const stream = await client.chat.completions.create({
        model: 'smart',
        messages: [{ role: 'user', content: 'stream from claude' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text).toBe('echo: stream from claude');
      expect(usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 4 });

      const tools: OpenAI.Chat.ChatCompletionTool[] = [
        {
          type: 'function',
          function: { name: 'get_weather', parameters: { type: 'object', properties: {} } },
        },
      ];
      const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
        { role: 'user', content: 'weather in Paris?' },
      ];
      const first = await client.chat.completions
        .stream({ model: 'smart', messages, tools })
        .finalChatCompletion();
      const call = first.choices[0]?.message.tool_calls?.[0];
      expect(first.choices[0]?.finish_reason).toBe('tool_calls');
      expect(call).toMatchObject({
        id: 'toolu_fake_1',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"location":"Paris"}' },
      });
      const second = await client.chat.completions.create({
        model: 'smart',
        tools,
        messages: [
          ...messages,
          {
            role: 'assistant',
            content: null,
            tool_calls: [call as OpenAI.Chat.ChatCompletionMessageToolCall],
          },
          { role: 'tool', tool_call_id: 'toolu_fake_1', content: 'sunny, 21C' },
        ],
      });
      expect(second.choices[0]?.message.content).toBe('tool said: sunny, 21C');
      expect((fake.requests.at(-1)?.body.messages as unknown[]).slice(1)).toEqual([
        {
          role: 'assistant',
          content: [
            {
              type: 'tool_use',
              id: 'toolu_fake_1',
              name: 'get_weather',
              input: { location: 'Paris' },
            },
          ],
        },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 'toolu_fake_1', content: 'sunny, 21C' }],
        },
      ]);
    });

    it('anthropic providers have no embeddings: a clear 400', async () => {
      await app.app.inject({
        method: 'POST',
        url: '/v1/routes',
        headers: bearer(tenant.ownerKey),
        payload: { alias: 'claude-emb', targets: [{ provider: 'claude', model: 'x', weight: 1 }] },
      });
      const err = await client.embeddings
        .create({ model: 'claude-emb', input: 'x' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as Error).message).toContain('has no embeddings API');
    });

    it("falls back when a target refuses connections; '*' passes unknown model names through", async () => {
      const { data, response } = await client.chat.completions
        .create({ model: 'resilient', messages: [{ role: 'user', content: 'are you up' }] })
        .withResponse();
      expect(data.choices[0]?.message.content).toBe('echo: are you up');
      expect(await usageRows(response.headers.get('x-request-id'))).toMatchObject([
        { provider: 'main', target_model: 'gpt-4o-mini', status: 200 },
      ]);

      const passed = await client.chat.completions.create({
        model: 'gpt-4.1-nano',
        messages: [{ role: 'user', content: 'x' }],
      });
      expect(passed.model).toBe('gpt-4.1-nano');
      expect(fake.requests.at(-1)?.body.model).toBe('gpt-4.1-nano');
    });

    it('an upstream that dies mid-stream ends the stream with an error event and is metered once', async () => {
      const res = await fetch(`${baseURL}/chat/completions`, {
        method: 'POST',
        headers: { ...bearer(tenant.ownerKey), 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'broken',
          messages: [{ role: 'user', content: 'one two three' }],
          stream: true,
        }),
      });
      expect(res.status).toBe(200);
      const raw = await res.text();
      const events = raw.split('\n\n').filter(Boolean);
      expect(events.slice(0, 2).every((e) => e.startsWith('data: {"id"'))).toBe(true);
      expect(JSON.parse((events.at(-1) as string).slice(6))).toMatchObject({
        error: { code: 'upstream_stream_failed' },
      });
      expect(raw).not.toContain('[DONE]');
      const rows = await usageRows(res.headers.get('x-request-id'));
      expect(rows).toMatchObject([{ status: 502, target_model: 'break-stream' }]);
    });

    it('a client that disconnects mid-stream cancels the upstream request', async () => {
      const before = fake.abandoned;
      const controller = new AbortController();
      const res = await fetch(`${baseURL}/chat/completions`, {
        method: 'POST',
        headers: { ...bearer(tenant.ownerKey), 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'slow',
          messages: [{ role: 'user', content: 'wait' }],
          stream: true,
        }),
        signal: controller.signal,
      });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toContain('"role":"assistant"');
      controller.abort();
      await until(() => fake.abandoned > before, 'the upstream connection to close');
      await until(
        async () => (await usageRows(res.headers.get('x-request-id'))).length === 1,
        'the usage row',
      );
      expect(await usageRows(res.headers.get('x-request-id'))).toMatchObject([
        { status: 499, target_model: 'slow-stream' },
      ]);
    });

    it('a client that disconnects before the upstream answers cancels the upstream request', async () => {
      const before = fake.abandoned;
      const received = fake.requests.length;
      const requestId = `hang-${Date.now()}-abcdef`;
      const controller = new AbortController();
      const pending = fetch(`${baseURL}/chat/completions`, {
        method: 'POST',
        headers: {
          ...bearer(tenant.ownerKey),
          'content-type': 'application/json',
          'x-request-id': requestId,
        },
        // 'hang' (through the '*' route) never sends response headers.
        body: JSON.stringify({ model: 'hang', messages: [{ role: 'user', content: 'wait' }] }),
        signal: controller.signal,
      });
      await until(() => fake.requests.length > received, 'the upstream to receive the request');
      controller.abort();
      await expect(pending).rejects.toThrow();
      await until(() => fake.abandoned > before, 'the upstream connection to close');
      await until(async () => (await usageRows(requestId)).length === 1, 'the usage row');
      expect(await usageRows(requestId)).toMatchObject([{ status: 499, target_model: 'hang' }]);
    });
  },
);
