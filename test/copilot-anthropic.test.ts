/**
 * A copilot run whose model alias routes to an Anthropic provider: the gateway translates the
 * agent's tools into Anthropic's `tools`, the model's `tool_use` block back into an OpenAI tool
 * call the run loop makes, and the result into a `tool_result` block (fake Messages API).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { COPILOT_MASTER_KEY, copilotWorker } from './helpers/copilot.js';
import { apiClient } from './helpers/identity-api.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';
import type { JobQueue } from '../src/platform/queue/queue.js';

describe.each(testDrivers())('copilot run through an Anthropic provider (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: FakeUpstream;
  let action: ActionServer;
  let worker: JobQueue;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, { RAMPART_MASTER_KEY: COPILOT_MASTER_KEY });
    fake = await startFakeOpenAI();
    action = await startActionServer();
    action.respond = () => ({ status: 200, body: { temperature: '18C' } });
    worker = copilotWorker(app, t.db);
  });
  afterAll(async () => {
    await app?.close();
    await fake?.close();
    await action?.close();
    await t?.close();
  });

  it('the tool_use block becomes a tool call, its result a tool_result, and the run completes', async () => {
    const tenant = await app.createTenant();
    const call = apiClient(app);
    const ok = async <T>(method: 'POST' | 'GET', url: string, body?: unknown): Promise<T> => {
      const r = await call(method, url, tenant.ownerKey, body);
      expect(r.status, `${method} ${url}: ${r.text}`).toBeLessThan(300);
      return r.body as T;
    };
    await ok('POST', '/v1/providers', {
      name: 'claude',
      type: 'anthropic',
      baseUrl: fake.url,
      apiKey: 'sk-ant-123456',
    });
    await ok('POST', '/v1/routes', {
      alias: 'claude-agent',
      targets: [{ provider: 'claude', model: 'claude-3-5-haiku-latest', weight: 1 }],
    });
    await ok('POST', '/v1/tools', {
      name: 'get_weather',
      description: 'Current weather of a city.',
      parameters: {
        type: 'object',
        properties: { location: { type: 'string' } },
        required: ['location'],
        additionalProperties: false,
      },
      request: { method: 'GET', url: `${action.baseUrl}/weather/{location}` },
      sideEffect: false,
    });
    const agent = await ok<{ id: string }>('POST', '/v1/agents', {
      name: 'weather',
      instructions: 'You report the weather.',
      model: 'claude-agent',
      tools: [{ name: 'get_weather', policy: 'always' }],
    });
    const run = await ok<{ id: string }>('POST', `/v1/agents/${agent.id}/runs`, {
      input: 'What is the weather in Paris?',
    });
    await worker.drain();
    const done = await ok<{ status: string; output: unknown; steps: number }>(
      'GET',
      `/v1/runs/${run.id}`,
    );
    expect(done).toMatchObject({
      status: 'succeeded',
      output: 'tool said: {"temperature":"18C"}',
      steps: 2,
    });
    // The action got the arguments from Anthropic's tool_use input.
    expect(action.to('GET /weather/Paris')).toHaveLength(1);
    // On the wire: Anthropic's tools, then the tool_use echoed back with its tool_result.
    const sent = fake.requests.filter((r) => r.url === '/v1/messages').slice(-2);
    expect(sent[0]?.body).toMatchObject({
      system: 'You report the weather.',
      tools: [{ name: 'get_weather', input_schema: { required: ['location'] } }],
    });
    expect(sent[1]?.body).toMatchObject({
      messages: [
        { role: 'user' },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'toolu_fake_1', name: 'get_weather' }],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_fake_1',
              content: '{"temperature":"18C"}',
            },
          ],
        },
      ],
    });
    const events = (
      await ok<{ data: { type: string; data: Record<string, unknown> }[] }>(
        'GET',
        `/v1/runs/${run.id}/events`,
      )
    ).data;
    expect(events.find((e) => e.type === 'tool.call.requested')?.data).toMatchObject({
      tool: 'get_weather',
      arguments: { location: 'Paris' },
    });
  });
});
