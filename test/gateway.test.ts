import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, VERBATIM_BODY, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 42).toString('base64');
const PROVIDER_KEY = 'sk-upstream-SECRET-7f3a9c1e5b2d4680';
const ROTATED_KEY = 'sk-upstream-ROTATED-0a1b2c3d4e5f6789';

interface UsageRow {
  alias: string;
  provider: string | null;
  target_model: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost_usd: string | number | null;
  status: number;
  stream: boolean;
  key_id: string | null;
}

describe.each(testDrivers())('LLM gateway through the openai SDK (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: FakeUpstream;
  let a: { id: string; ownerKey: string };
  let b: { id: string; ownerKey: string };
  let client: OpenAI;
  let baseURL: string;
  let providerId: string;
  const responses: string[] = [];

  /** app.inject that remembers every response body for the leak check. */
  async function call(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    key: string,
    payload?: unknown,
  ) {
    const res = await app.app.inject({
      method,
      url,
      headers: bearer(key),
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    responses.push(res.body);
    return res;
  }

  async function usageFor(requestId: string | null): Promise<UsageRow> {
    await app.gateway.usage.flush();
    const { rows } = await t.db.withTenant({ tenantId: a.id, groups: [] }, (tx) =>
      tx.query<UsageRow>(
        `SELECT alias, provider, target_model, prompt_tokens, completion_tokens, cached_tokens, cost_usd, status, stream, key_id
           FROM usage_events WHERE request_id = $1`,
        [requestId],
      ),
    );
    expect(rows).toHaveLength(1);
    return rows[0] as UsageRow;
  }

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
    app = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY });
    await app.app.listen({ port: 0, host: '127.0.0.1' });
    baseURL = `http://127.0.0.1:${(app.app.server.address() as AddressInfo).port}/v1`;
    a = await app.createTenant();
    b = await app.createTenant();
    client = new OpenAI({ apiKey: a.ownerKey, baseURL, maxRetries: 0 });

    const created = await call('POST', '/v1/providers', a.ownerKey, {
      name: 'main',
      type: 'openai',
      baseUrl: fake.baseUrl,
      apiKey: PROVIDER_KEY,
      headers: { 'OpenAI-Organization': 'org-test' },
    });
    expect(created.statusCode).toBe(201);
    providerId = (created.json() as { id: string }).id;
    for (const [alias, targets, fallbacks] of [
      ['default', [{ provider: 'main', model: 'gpt-4o-mini', weight: 100 }], []],
      [
        'flaky',
        [{ provider: 'main', model: 'fail-500', weight: 1 }],
        [{ provider: 'main', model: 'gpt-4o-mini' }],
      ],
      [
        'down',
        [{ provider: 'main', model: 'fail-500', weight: 1 }],
        [{ provider: 'main', model: 'fail-429' }],
      ],
      ['strict', [{ provider: 'main', model: 'reject-400', weight: 1 }], []],
      ['emb', [{ provider: 'main', model: 'text-embedding-3-small', weight: 1 }], []],
      ['verbatim', [{ provider: 'main', model: 'verbatim', weight: 1 }], []],
    ] as const) {
      const r = await call('POST', '/v1/routes', a.ownerKey, { alias, targets, fallbacks });
      expect(r.statusCode, r.body).toBe(201);
    }
  });
  afterAll(async () => {
    await app?.close();
    await fake?.close();
    await t?.close();
  });

  it('provider responses carry id, name, type and baseUrl, never the key', async () => {
    const got = await call('GET', `/v1/providers/${providerId}`, a.ownerKey);
    expect(got.json()).toEqual({
      id: providerId,
      name: 'main',
      type: 'openai',
      baseUrl: fake.baseUrl,
      headers: { 'openai-organization': 'org-test' },
      dataPolicy: { redactPii: false },
      selfHosted: false,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const list = await call('GET', '/v1/providers', a.ownerKey);
    expect((list.json() as { data: { id: string }[] }).data.map((p) => p.id)).toEqual([providerId]);
  });

  it('route validation names the field: unknown provider, no targets, duplicate alias', async () => {
    const unknown = await call('POST', '/v1/routes', a.ownerKey, {
      alias: 'x',
      targets: [{ provider: 'main', model: 'm', weight: 1 }],
      fallbacks: [{ provider: 'nope', model: 'm' }],
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toMatchObject({
      code: 'invalid_input',
      detail: "body.fallbacks.0.provider: no provider named 'nope'",
    });
    const empty = await call('POST', '/v1/routes', a.ownerKey, { alias: 'x', targets: [] });
    expect(empty.statusCode).toBe(400);
    expect((empty.json() as { detail: string }).detail).toMatch(/^body\.targets/);
    const dup = await call('POST', '/v1/routes', a.ownerKey, {
      alias: 'default',
      targets: [{ provider: 'main', model: 'm', weight: 1 }],
    });
    expect(dup.statusCode).toBe(409);
    const secretHeader = await call('POST', '/v1/providers', a.ownerKey, {
      name: 'other',
      type: 'openai',
      apiKey: 'sk-other-123456',
      headers: { Authorization: 'Bearer sk-smuggled' },
    });
    expect(secretHeader.statusCode).toBe(400);
    expect((secretHeader.json() as { detail: string }).detail).toMatch(/^body\.headers/);
    const dupProvider = await call('POST', '/v1/providers', a.ownerKey, {
      name: 'main',
      type: 'openai',
      apiKey: 'sk-other-123456',
    });
    expect(dupProvider.statusCode).toBe(409);
    const inUse = await call('DELETE', `/v1/providers/${providerId}`, a.ownerKey);
    expect(inUse.statusCode).toBe(409);
    expect((inUse.json() as { code: string }).code).toBe('provider_in_use');
  });

  it('chat (non-streaming): the SDK gets the answer; the upstream got the target model, the provider key and unknown fields', async () => {
    const { data, response } = await client.chat.completions
      .create({
        model: 'default',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'hello there' },
        ],
        seed: 7,
        custom_vendor_flag: 'kept',
      } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('echo: hello there');
    expect(data.choices[0]?.finish_reason).toBe('stop');
    // Fake upstream counts words + 1 per message: (2 + 1) + (2 + 1) = 6 prompt, 3 completion.
    expect(data.usage).toMatchObject({ prompt_tokens: 6, completion_tokens: 3, total_tokens: 9 });
    const sent = fake.requests.at(-1);
    expect(sent?.body).toMatchObject({ model: 'gpt-4o-mini', seed: 7, custom_vendor_flag: 'kept' });
    expect(sent?.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(sent?.headers['openai-organization']).toBe('org-test');

    expect(response.headers.get('x-rampart-overhead-ms')).toMatch(/^\d+\.\d{3}$/);
    const usage = await usageFor(response.headers.get('x-request-id'));
    expect(usage).toMatchObject({
      alias: 'default',
      provider: 'main',
      target_model: 'gpt-4o-mini',
      prompt_tokens: 6,
      completion_tokens: 3,
      cached_tokens: 0,
      status: 200,
      stream: false,
    });
    // gpt-4o-mini built-in: $0.15 / 1M input, $0.60 / 1M output.
    expect(Number(usage.cost_usd)).toBeCloseTo((6 * 0.15 + 3 * 0.6) / 1e6, 15);
  });

  it('an OpenAI-compatible answer is relayed byte for byte, and still metered from its usage', async () => {
    const res = await call('POST', '/v1/chat/completions', a.ownerKey, {
      model: 'verbatim',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.body).toBe(VERBATIM_BODY);
    const usage = await usageFor(String(res.headers['x-request-id']));
    expect(usage).toMatchObject({
      target_model: 'verbatim',
      prompt_tokens: 4,
      completion_tokens: 2,
    });
  });

  it('chat (streaming): deltas assemble to the answer; the usage chunk appears only when asked; usage is metered either way', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({
        model: 'default',
        messages: [{ role: 'user', content: 'stream me please' }],
        stream: true,
      })
      .withResponse();
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      expect(chunk.choices.length).toBeGreaterThan(0);
      expect(chunk.usage ?? null).toBeNull();
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe('echo: stream me please');
    expect(chunks).toBeGreaterThan(3);
    expect(fake.requests.at(-1)?.body.stream_options).toEqual({ include_usage: true });
    const usage = await usageFor(response.headers.get('x-request-id'));
    expect(usage).toMatchObject({
      prompt_tokens: 4,
      completion_tokens: 4,
      stream: true,
      status: 200,
    });

    const withUsage = await client.chat.completions.create({
      model: 'default',
      messages: [{ role: 'user', content: 'count me' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const all = [];
    for await (const chunk of withUsage) all.push(chunk);
    expect(all.at(-1)?.choices).toEqual([]);
    expect(all.at(-1)?.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 3 });
  });

  it('SSE framing on the wire: data events separated by blank lines, ending with [DONE]', async () => {
    const res = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { ...bearer(a.ownerKey), 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'default',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      }),
    });
    const raw = await res.text();
    expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
    const events = raw.split('\n\n').filter(Boolean);
    expect(events.every((e) => e.startsWith('data: ') && !e.slice(6).includes('\n'))).toBe(true);
  });

  it('tools: tool_calls come back, non-streaming and streaming', async () => {
    const tools: OpenAI.Chat.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { location: { type: 'string' } } },
        },
      },
    ];
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'What is the weather in Paris?' },
    ];
    const res = await client.chat.completions.create({ model: 'default', messages, tools });
    expect(res.choices[0]?.finish_reason).toBe('tool_calls');
    expect(res.choices[0]?.message.tool_calls).toEqual([
      {
        id: 'call_fake_1',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"location":"Paris"}' },
      },
    ]);
    expect(fake.requests.at(-1)?.body.tools).toEqual(tools);

    const stream = client.chat.completions.stream({ model: 'default', messages, tools });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.message.tool_calls?.[0]?.function).toEqual({
      name: 'get_weather',
      arguments: '{"location":"Paris"}',
    });
  });

  it('embeddings (the SDK asks for base64 and decodes it)', async () => {
    const res = await client.embeddings.create({ model: 'emb', input: ['a b c', 'd'] });
    expect(res.data).toHaveLength(2);
    expect(res.data[0]?.embedding.map((v) => Math.round(v * 100))).toEqual([5, 3, 97, 1]);
    expect(res.usage.prompt_tokens).toBe(4);
    expect(fake.requests.at(-1)?.body).toMatchObject({
      model: 'text-embedding-3-small',
      encoding_format: 'base64',
    });
  });

  it('the gateway routes are in the OpenAPI document', async () => {
    const doc = (await app.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, object>;
    };
    for (const path of [
      '/v1/chat/completions',
      '/v1/embeddings',
      '/v1/models',
      '/v1/providers',
      '/v1/providers/{id}',
      '/v1/routes/{alias}',
      '/v1/prices/{model}',
    ])
      expect(Object.keys(doc.paths)).toContain(path);
  });

  it('GET /v1/models lists the aliases', async () => {
    const models = [];
    for await (const m of client.models.list()) models.push(m.id);
    expect(models.sort()).toEqual(['default', 'down', 'emb', 'flaky', 'strict', 'verbatim']);
  });

  it('falls back in order when the chosen target answers 5xx; fails clearly when every target fails', async () => {
    const before = fake.requests.length;
    const { data, response } = await client.chat.completions
      .create({ model: 'flaky', messages: [{ role: 'user', content: 'still there' }] })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('echo: still there');
    // Tried twice (GATEWAY_RETRY_ATTEMPTS defaults to 2), then the fallback.
    expect(fake.requests.slice(before).map((r) => r.body.model)).toEqual([
      'fail-500',
      'fail-500',
      'gpt-4o-mini',
    ]);
    expect(await usageFor(response.headers.get('x-request-id'))).toMatchObject({
      target_model: 'gpt-4o-mini',
      status: 200,
    });

    const err = await client.chat.completions
      .create({ model: 'down', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('upstream_rate_limited');
    // The fake upstream's Retry-After is passed on.
    expect((err as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after')).toBe('1');
  });

  it("errors come in OpenAI's shape: unknown model 404, upstream 400 passed on, missing permission 403", async () => {
    const notFound = await client.chat.completions
      .create({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(OpenAI.NotFoundError);
    expect((notFound as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
    expect((notFound as InstanceType<typeof OpenAI.APIError>).param).toBe('model');

    const rejected = await client.chat.completions
      .create({ model: 'strict', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(OpenAI.BadRequestError);
    expect((rejected as Error).message).toContain("Invalid value for 'temperature'.");

    const viewer = await call('POST', '/v1/api-keys', a.ownerKey, { name: 'ro', role: 'viewer' });
    const viewerClient = new OpenAI({
      apiKey: (viewer.json() as { secret: string }).secret,
      baseURL,
      maxRetries: 0,
    });
    const denied = await viewerClient.chat.completions
      .create({ model: 'default', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((denied as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
      type: 'permission_error',
      code: 'permission_denied',
    });
    const raw = await call('GET', '/v1/providers', (viewer.json() as { secret: string }).secret);
    expect(raw.statusCode).toBe(403);
  });

  it('a tenant price override changes the cost of later requests', async () => {
    const put = await call('PUT', '/v1/prices/gpt-4o-mini', a.ownerKey, { input: 1, output: 2 });
    expect(put.json()).toEqual({
      model: 'gpt-4o-mini',
      input: 1,
      output: 2,
      cachedInput: 1,
      source: 'tenant',
    });
    const { response } = await client.chat.completions
      .create({ model: 'default', messages: [{ role: 'user', content: 'price check' }] })
      .withResponse();
    const usage = await usageFor(response.headers.get('x-request-id'));
    expect(Number(usage.cost_usd)).toBeCloseTo((3 * 1 + 3 * 2) / 1e6, 15);
    const prices = await call('GET', '/v1/prices', a.ownerKey);
    expect((prices.json() as { data: { model: string; source: string }[] }).data).toContainEqual(
      expect.objectContaining({ model: 'gpt-4o-mini', source: 'tenant' }),
    );
  });

  it("tenant B can neither see nor use tenant A's providers and routes", async () => {
    expect((await call('GET', `/v1/providers/${providerId}`, b.ownerKey)).statusCode).toBe(404);
    expect((await call('GET', '/v1/providers', b.ownerKey)).json()).toEqual({
      data: [],
      platform: [],
    });
    expect((await call('GET', '/v1/routes', b.ownerKey)).json()).toEqual({ data: [] });
    expect(
      (
        await call('PATCH', `/v1/providers/${providerId}`, b.ownerKey, {
          baseUrl: 'http://evil.example',
        })
      ).statusCode,
    ).toBe(404);
    const route = await call('POST', '/v1/routes', b.ownerKey, {
      alias: 'steal',
      targets: [{ provider: 'main', model: 'gpt-4o-mini', weight: 1 }],
    });
    expect(route.statusCode).toBe(400);
    const bClient = new OpenAI({ apiKey: b.ownerKey, baseURL, maxRetries: 0 });
    const err = await bClient.chat.completions
      .create({ model: 'default', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('rotating the provider key re-encrypts it; the key never appears in responses, audit, logs or the database', async () => {
    const patched = await call('PATCH', `/v1/providers/${providerId}`, a.ownerKey, {
      apiKey: ROTATED_KEY,
    });
    expect(patched.statusCode).toBe(200);
    await client.chat.completions.create({
      model: 'default',
      messages: [{ role: 'user', content: 'after rotation' }],
    });
    expect(fake.requests.at(-1)?.headers.authorization).toBe(`Bearer ${ROTATED_KEY}`);

    const audit = await call('GET', '/v1/audit-events?limit=200', a.ownerKey);
    const actions = (audit.json() as { data: { action: string }[] }).data.map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'provider.created',
        'provider.updated',
        'route.created',
        'price.set',
      ]),
    );

    const dump = await t.asOwner((q) =>
      q.query<{ r: string }>(
        `SELECT row_to_json(p)::text || encode(credential_ciphertext, 'escape') || encode(credential_wrapped_key, 'escape') AS r FROM providers p`,
      ),
    );
    const auditDump = await t.asOwner((q) =>
      q.query<{ r: string }>(`SELECT row_to_json(e)::text AS r FROM audit_events e`),
    );
    await app.gateway.usage.flush();
    for (const secret of [PROVIDER_KEY, ROTATED_KEY, MASTER_KEY]) {
      for (const body of responses) expect(body).not.toContain(secret);
      expect(app.logs.text).not.toContain(secret);
      for (const row of [...dump.rows, ...auditDump.rows]) expect(row.r).not.toContain(secret);
    }
    expect(dump.rows.length).toBeGreaterThan(0);
  });
});
