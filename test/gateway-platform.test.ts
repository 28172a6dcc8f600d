import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
const PLATFORM_KEY = 'sk-platform-SHARED-5e6f7a8b9c0d1e2f';
const dir = mkdtempSync(join(tmpdir(), 'rampart-platform-'));

function providersFile(content: unknown): string {
  const path = join(dir, `providers-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('platform providers file (config)', () => {
  it('reads providers, with keys inline or from a file, and treats the keys as secrets', () => {
    const keyFile = join(dir, 'anthropic.key');
    writeFileSync(keyFile, 'sk-ant-FROMFILE-0123456789\n');
    const c = loadConfig({
      GATEWAY_PROVIDERS_FILE: providersFile({
        providers: [
          {
            name: 'shared',
            type: 'openai',
            baseUrl: 'https://llm.example/v1',
            apiKey: 'sk-inline-abcdef',
          },
          { name: 'claude', type: 'anthropic', apiKeyFile: keyFile, headers: { 'X-Team': 'a' } },
        ],
      }),
    });
    expect(c.platformProviders).toEqual([
      {
        name: 'shared',
        type: 'openai',
        baseUrl: 'https://llm.example/v1',
        apiKey: 'sk-inline-abcdef',
        headers: {},
      },
      {
        name: 'claude',
        type: 'anthropic',
        baseUrl: undefined,
        apiKey: 'sk-ant-FROMFILE-0123456789',
        headers: { 'x-team': 'a' },
      },
    ]);
    expect(c.secretValues).toEqual(
      expect.arrayContaining(['sk-inline-abcdef', 'sk-ant-FROMFILE-0123456789']),
    );
  });

  it.each([
    ['not JSON', '{nope', /GATEWAY_PROVIDERS_FILE: cannot read .*JSON/],
    [
      'an unknown type',
      { providers: [{ name: 'x', type: 'cohere', apiKey: 'k' }] },
      /providers\.0\.type/,
    ],
    [
      'no key',
      { providers: [{ name: 'x', type: 'openai' }] },
      /exactly one of apiKey or apiKeyFile/,
    ],
    [
      'duplicate names',
      {
        providers: [
          { name: 'x', type: 'openai', apiKey: 'k' },
          { name: 'x', type: 'openai', apiKey: 'k' },
        ],
      },
      /names must be unique/,
    ],
  ])('refuses %s with a ConfigError naming the setting', (_label, content, message) => {
    let err: unknown;
    try {
      loadConfig({ GATEWAY_PROVIDERS_FILE: providersFile(content) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(message);
  });
});

describe.each(testDrivers())('platform providers and the upstream address guard (%s)', (driver) => {
  let t: TestDatabase;
  let fake: FakeUpstream;
  let app: TestApp;
  let guarded: TestApp;
  let tenant: { id: string; ownerKey: string };

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
    const file = providersFile({
      providers: [{ name: 'shared', type: 'openai', baseUrl: fake.baseUrl, apiKey: PLATFORM_KEY }],
    });
    // The platform provider is on 127.0.0.1 and still allowed: the operator configured it.
    const env = {
      RAMPART_MASTER_KEY: MASTER_KEY,
      GATEWAY_PROVIDERS_FILE: file,
      OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'false',
    };
    app = await createTestApp(t.db, env);
    guarded = app;
    tenant = await app.createTenant();
  });
  afterAll(async () => {
    await app?.close();
    await fake?.close();
    await t?.close();
  });

  it('lets a tenant route to a platform provider it never configured, and lists it without its key', async () => {
    const route = await app.app.inject({
      method: 'POST',
      url: '/v1/routes',
      headers: bearer(tenant.ownerKey),
      payload: {
        alias: 'default',
        targets: [{ provider: 'shared', model: 'gpt-4o-mini', weight: 1 }],
      },
    });
    expect(route.statusCode).toBe(201);
    const chat = await app.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: bearer(tenant.ownerKey),
      payload: { model: 'default', messages: [{ role: 'user', content: 'hello platform' }] },
    });
    expect(chat.statusCode).toBe(200);
    const last = fake.requests.at(-1);
    expect(last?.headers.authorization).toBe(`Bearer ${PLATFORM_KEY}`);
    expect(last?.body.model).toBe('gpt-4o-mini');

    const list = await app.app.inject({
      method: 'GET',
      url: '/v1/providers',
      headers: bearer(tenant.ownerKey),
    });
    expect(list.json()).toEqual({
      data: [],
      platform: [{ name: 'shared', type: 'openai', baseUrl: fake.baseUrl }],
    });
    expect(list.body).not.toContain(PLATFORM_KEY);
    expect(app.logs.text).not.toContain(PLATFORM_KEY);
  });

  it('sets and lists the price of a model whose name has a slash (percent-encoded in the path)', async () => {
    const model = 'meta-llama/Llama-3.1-70B-Instruct';
    const put = await app.app.inject({
      method: 'PUT',
      url: `/v1/prices/${encodeURIComponent(model)}`,
      headers: bearer(tenant.ownerKey),
      payload: { input: 0.6, output: 0.8 },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ model, input: 0.6, output: 0.8, cachedInput: 0.6 });
    const list = await app.app.inject({
      method: 'GET',
      url: '/v1/prices',
      headers: bearer(tenant.ownerKey),
    });
    expect((list.json() as { data: { model: string; source: string }[] }).data).toContainEqual(
      expect.objectContaining({ model, source: 'tenant' }),
    );
    const del = await app.app.inject({
      method: 'DELETE',
      url: `/v1/prices/${encodeURIComponent(model)}`,
      headers: bearer(tenant.ownerKey),
    });
    expect(del.statusCode).toBe(204);
  });

  it('refuses a tenant provider that takes a platform provider name (409)', async () => {
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/providers',
      headers: bearer(tenant.ownerKey),
      payload: {
        name: 'shared',
        type: 'openai',
        baseUrl: 'https://api.openai.com/v1',
        apiKey: 'sk-x',
      },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'provider_exists' });
  });

  it.each([
    'http://127.0.0.1:9/v1',
    'http://[::1]:9/v1',
    'http://169.254.169.254/latest',
    'http://localhost:9/v1',
  ])(
    'refuses a tenant provider at the non-public address %s (400 naming body.baseUrl)',
    async (baseUrl) => {
      const res = await guarded.app.inject({
        method: 'POST',
        url: '/v1/providers',
        headers: bearer(tenant.ownerKey),
        payload: { name: 'internal', type: 'openai', baseUrl, apiKey: 'sk-internal' },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().errors).toEqual([
        { field: 'body.baseUrl', message: 'not a public address' },
      ]);
    },
  );

  it('refuses at connect time a provider saved while private addresses were allowed', async () => {
    // Another replica (or an earlier setting) saved it; this instance must still not dial it.
    const lax = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY });
    try {
      for (const [name, baseUrl] of [
        ['by-name', fake.baseUrl.replace('127.0.0.1', 'localhost')],
        ['by-ip', fake.baseUrl],
      ] as const) {
        const created = await lax.app.inject({
          method: 'POST',
          url: '/v1/providers',
          headers: bearer(tenant.ownerKey),
          payload: { name, type: 'openai', baseUrl, apiKey: 'sk-internal-123456' },
        });
        expect(created.statusCode).toBe(201);
        const route = await lax.app.inject({
          method: 'POST',
          url: '/v1/routes',
          headers: bearer(tenant.ownerKey),
          payload: {
            alias: `via-${name}`,
            targets: [{ provider: name, model: 'gpt-4o-mini', weight: 1 }],
          },
        });
        expect(route.statusCode).toBe(201);
      }
    } finally {
      await lax.close();
    }
    for (const alias of ['via-by-name', 'via-by-ip']) {
      const before = fake.requests.length;
      const res = await guarded.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: bearer(tenant.ownerKey),
        payload: { model: alias, messages: [{ role: 'user', content: 'hi' }] },
      });
      expect(res.statusCode).toBe(502);
      expect(res.json().error.message).toMatch(/not a public address/);
      expect(fake.requests.length).toBe(before);
    }
  });
});
