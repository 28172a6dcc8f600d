import OpenAI from 'openai';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMasterKey } from '../src/platform/secrets/envelope.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const OLD = Buffer.alloc(32, 1).toString('base64');
const NEW = Buffer.alloc(32, 2).toString('base64');
const PROVIDER_KEY = 'sk-rotation-test-9d8c7b6a';

describe.each(testDrivers())('gateway: master key rotation (%s)', (driver) => {
  let t: TestDatabase;
  let fake: FakeUpstream;
  const apps: TestApp[] = [];

  async function start(
    env: Record<string, string>,
  ): Promise<{ app: TestApp; chat: (key: string) => Promise<unknown> }> {
    const app = await createTestApp(t.db, env);
    apps.push(app);
    await app.app.listen({ port: 0, host: '127.0.0.1' });
    const baseURL = `http://127.0.0.1:${(app.app.server.address() as AddressInfo).port}/v1`;
    return {
      app,
      chat: (key) =>
        new OpenAI({ apiKey: key, baseURL, maxRetries: 0 }).chat.completions
          .create({ model: 'default', messages: [{ role: 'user', content: 'ping' }] })
          .then(
            (r) => r.choices[0]?.message.content,
            (e: unknown) => e,
          ),
    };
  }

  async function keyIds(): Promise<string[]> {
    const { rows } = await t.asOwner((q) =>
      q.query<{ k: string }>('SELECT credential_key_id AS k FROM providers'),
    );
    return rows.map((r) => r.k);
  }

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
  });
  afterAll(async () => {
    for (const a of apps) {
      a.app.server.closeAllConnections();
      await a.close();
    }
    await fake?.close();
    await t?.close();
  });

  it('re-wraps data keys under the new master key; the old key is then no longer needed', async () => {
    const before = await start({ RAMPART_MASTER_KEY: OLD });
    const tenant = await before.app.createTenant();
    const created = await before.app.app.inject({
      method: 'POST',
      url: '/v1/providers',
      headers: bearer(tenant.ownerKey),
      payload: { name: 'main', type: 'openai', baseUrl: fake.baseUrl, apiKey: PROVIDER_KEY },
    });
    expect(created.statusCode).toBe(201);
    await before.app.app.inject({
      method: 'POST',
      url: '/v1/routes',
      headers: bearer(tenant.ownerKey),
      payload: {
        alias: 'default',
        targets: [{ provider: 'main', model: 'gpt-4o-mini', weight: 1 }],
      },
    });
    expect(await before.chat(tenant.ownerKey)).toBe('echo: ping');
    expect(await keyIds()).toEqual([parseMasterKey(OLD).id]);

    // Only the new key configured: the stored credential cannot be read, and the error says so.
    const newOnly = await start({ RAMPART_MASTER_KEY: NEW });
    const refused = await newOnly.chat(tenant.ownerKey);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('credential_unavailable');

    // New key plus the old one as previous: reads work, and rotation re-wraps.
    const rotating = await start({ RAMPART_MASTER_KEY: NEW, RAMPART_MASTER_KEY_PREVIOUS: OLD });
    expect(await rotating.chat(tenant.ownerKey)).toBe('echo: ping');
    const ciphertextBefore = await t.asOwner((q) =>
      q.query<{ c: string }>(`SELECT encode(credential_ciphertext, 'hex') AS c FROM providers`),
    );
    expect(
      await rotating.app.gateway.providers.rewrapCredentials({
        tenantId: tenant.id,
        userId: null,
        groups: [],
      }),
    ).toBe(1);
    expect(
      await rotating.app.gateway.providers.rewrapCredentials({
        tenantId: tenant.id,
        userId: null,
        groups: [],
      }),
    ).toBe(0);
    expect(await keyIds()).toEqual([parseMasterKey(NEW).id]);
    const ciphertextAfter = await t.asOwner((q) =>
      q.query<{ c: string }>(`SELECT encode(credential_ciphertext, 'hex') AS c FROM providers`),
    );
    expect(ciphertextAfter.rows).toEqual(ciphertextBefore.rows);

    // Another instance learns of the re-wrap by NOTIFY, a few milliseconds later (its cached
    // config still holds the credential it could not read until then).
    let answer = await newOnly.chat(tenant.ownerKey);
    for (let i = 0; i < 100 && answer !== 'echo: ping'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      answer = await newOnly.chat(tenant.ownerKey);
    }
    expect(answer).toBe('echo: ping');
    expect(fake.requests.at(-1)?.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
  });

  it('without any master key, storing a provider credential answers 503 and stores nothing', async () => {
    const none = await start({});
    const tenant = await none.app.createTenant();
    const res = await none.app.app.inject({
      method: 'POST',
      url: '/v1/providers',
      headers: bearer(tenant.ownerKey),
      payload: { name: 'main', type: 'openai', apiKey: 'sk-x-123456' },
    });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'master_key_missing' });
    const list = await none.app.app.inject({
      method: 'GET',
      url: '/v1/providers',
      headers: bearer(tenant.ownerKey),
    });
    expect(list.json()).toEqual({ data: [], platform: [] });
  });
});
