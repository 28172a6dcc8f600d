import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { createWorker } from '../src/jobs.js';
import { startScriptedUpstream, type ScriptedUpstream } from './fakes/fake-openai-scripted.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

const BASE = { RAMPART_SECRET_KEY: 'x'.repeat(32) };

describe('knowledge model settings', () => {
  it('uses no platform embedding model (the local embedder) when none is configured', () => {
    expect(loadConfig(BASE).knowledgeModels).toEqual({ embeddings: undefined, chat: undefined });
  });

  it('refuses at start-up a model whose dimension does not fit the chunks column', () => {
    const load = () =>
      loadConfig({
        ...BASE,
        EMBEDDINGS_BASE_URL: 'http://127.0.0.1:9/v1',
        EMBEDDINGS_MODEL: 'nomic-embed-text',
        EMBEDDINGS_DIMENSIONS: '768',
      });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/EMBEDDINGS_DIMENSIONS: is 768, but chunks\.embedding is vector\(1024\)/);
  });

  it('requires a model name with an endpoint, and a known provider name', () => {
    expect(() => loadConfig({ ...BASE, EMBEDDINGS_BASE_URL: 'http://127.0.0.1:9/v1' })).toThrow(
      /EMBEDDINGS_MODEL: must be set when EMBEDDINGS_BASE_URL is set/,
    );
    expect(() =>
      loadConfig({ ...BASE, ASK_CHAT_PROVIDER: 'nowhere', ASK_CHAT_MODEL: 'gpt-4o-mini' }),
    ).toThrow(/ASK_CHAT_PROVIDER: 'nowhere' is not a provider of GATEWAY_PROVIDERS_FILE/);
  });
});

describe.each(testDrivers())('knowledge hub: OpenAI-compatible embeddings (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: ScriptedUpstream;
  let tenant: { id: string; ownerKey: string };

  const TEXT =
    '# Returns\n\nItems may be returned within 14 days in their original packaging.\n\n' +
    '# Warranty\n\nEvery appliance carries a two-year warranty against manufacturing defects.';
  const upload = async (payload: Record<string, unknown>, key?: string): Promise<string> => {
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/documents',
      headers: bearer(key ?? tenant.ownerKey),
      payload,
    });
    expect(res.statusCode).toBe(202);
    return (res.json() as { id: string }).id;
  };
  const document = async (id: string, key?: string) =>
    (
      await app.app.inject({
        method: 'GET',
        url: `/v1/documents/${id}`,
        headers: bearer(key ?? tenant.ownerKey),
      })
    ).json() as { status: string; chunkCount: number };
  const drain = () => createWorker(t.db, app.config, undefined, app.gateway.calls).drain();
  const embeddedTexts = () => fake.embeddingRequests.flatMap((r) => r.input);

  beforeAll(async () => {
    fake = await startScriptedUpstream();
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, {
      EMBEDDINGS_BASE_URL: fake.baseUrl,
      EMBEDDINGS_MODEL: 'text-embedding-3-small',
      EMBEDDINGS_API_KEY: 'sk-fake-embed-key',
      EMBEDDINGS_BATCH_SIZE: '1',
      GATEWAY_RETRY_BASE_MS: '1',
      // Stored provider credentials (the tenant's own embedding provider) need a master key.
      RAMPART_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
    });
    tenant = await app.createTenant();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
    await fake?.close();
  });

  it('embeds through the endpoint, and re-ingesting identical text makes no new call', async () => {
    const first = await upload({ title: 'Returns', markdown: TEXT });
    await drain();
    const doc = await document(first);
    expect(doc.status).toBe('ready');
    const calls = fake.embeddingRequests.length;
    expect(calls).toBeGreaterThan(0);
    expect(embeddedTexts()).toHaveLength(doc.chunkCount);
    expect(fake.embeddingRequests.every((r) => r.input.length === 1)).toBe(true);

    // Same text, another document (restricted to a group, so not deduplicated by content).
    await app.app.inject({
      method: 'POST',
      url: '/v1/groups',
      headers: bearer(tenant.ownerKey),
      payload: { name: 'legal' },
    });
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: bearer(tenant.ownerKey),
      payload: { name: 'legal', role: 'member', groups: ['legal'] },
    });
    const legalKey = (res.json() as { secret: string }).secret;
    const second = await upload(
      { title: 'Returns (legal)', markdown: TEXT, groups: ['legal'] },
      legalKey,
    );
    expect(second).not.toBe(first);
    await drain();
    expect(await document(second, legalKey)).toMatchObject({
      status: 'ready',
      chunkCount: doc.chunkCount,
    });
    expect(fake.embeddingRequests).toHaveLength(calls);
  });

  it('retries a 500 and then stores the vectors; search embeds the query the same way', async () => {
    const before = fake.embeddingRequests.length;
    fake.failNext.push(500);
    const id = await upload({ title: 'Shipping', text: 'Parcels ship by courier overnight.' });
    await drain();
    expect(await document(id)).toMatchObject({ status: 'ready', chunkCount: 1 });
    const inputs = fake.embeddingRequests.slice(before).map((r) => r.input);
    expect(inputs).toEqual([
      ['Parcels ship by courier overnight.'],
      ['Parcels ship by courier overnight.'],
    ]);

    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/search',
      headers: bearer(tenant.ownerKey),
      payload: { query: 'courier parcels', mode: 'vector', k: 1 },
    });
    expect(res.statusCode).toBe(200);
    expect((res.json() as { data: { documentId: string }[] }).data[0]?.documentId).toBe(id);
    expect(fake.embeddingRequests.at(-1)?.input).toEqual(['courier parcels']);

    // An endpoint that keeps failing is the upstream's fault: 502 with a stable code.
    // Both of the gateway's attempts (GATEWAY_RETRY_ATTEMPTS) fail.
    fake.failNext.push(500, 500);
    const failed = await app.app.inject({
      method: 'POST',
      url: '/v1/search',
      headers: bearer(tenant.ownerKey),
      payload: { query: 'courier parcels', mode: 'vector' },
    });
    expect(failed.statusCode).toBe(502);
    expect(failed.json()).toMatchObject({ code: 'embedding_failed' });
    expect(fake.failNext).toEqual([]);
  });

  const usageByModel = async (key: string) => {
    await app.gateway.usage.flush();
    const res = await app.app.inject({
      method: 'GET',
      url: '/v1/usage?groupBy=model',
      headers: bearer(key),
    });
    expect(res.statusCode).toBe(200);
    return (res.json() as { data: Record<string, unknown>[] }).data;
  };

  it('meters ingestion and query embeddings to the tenant in GET /v1/usage, with tokens and cost', async () => {
    fake.failNext.length = 0;
    const own = await app.createTenant();
    await upload({ title: 'Metered', text: 'Invoices are archived for ten years.' }, own.ownerKey);
    await drain();
    await app.gateway.usage.flush();
    // The job's calls carry no key and no user: a service principal of the job row's tenant.
    const rows = await t.db.withTenant({ tenantId: own.id, groups: [] }, (tx) =>
      tx.query<{
        key_id: string | null;
        user_id: string | null;
        alias: string;
        request_id: string;
      }>(
        `SELECT key_id, user_id, alias, request_id FROM usage_events WHERE endpoint = 'embeddings'`,
      ),
    );
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0]).toMatchObject({
      key_id: null,
      user_id: null,
      alias: 'text-embedding-3-small',
    });
    expect(rows.rows[0]?.request_id).toMatch(/^job:/);
    const [byModel] = await usageByModel(own.ownerKey);
    expect(byModel).toMatchObject({ model: 'text-embedding-3-small', requests: 1 });
    expect(byModel?.prompt_tokens).toBeGreaterThan(0);
    expect(byModel?.cost_usd).toBeGreaterThan(0);
    const search = await app.app.inject({
      method: 'POST',
      url: '/v1/search',
      headers: bearer(own.ownerKey),
      payload: { query: 'archived invoices', mode: 'vector' },
    });
    expect(search.statusCode).toBe(200);
    expect((await usageByModel(own.ownerKey))[0]).toMatchObject({ requests: 2 });
  });

  it("embeds with the tenant's own embedding alias when its knowledge settings name one", async () => {
    const own = await app.createTenant();
    const call = (method: 'POST' | 'PUT', url: string, payload: Record<string, unknown>) =>
      app.app.inject({ method, url, headers: bearer(own.ownerKey), payload });
    expect(
      (
        await call('POST', '/v1/providers', {
          name: 'mine',
          type: 'openai',
          baseUrl: fake.baseUrl,
          apiKey: 'sk-tenant-own-123456',
        })
      ).statusCode,
    ).toBe(201);
    expect(
      (
        await call('POST', '/v1/routes', {
          alias: 'kb-embed',
          targets: [{ provider: 'mine', model: 'tenant-embed-model', weight: 1 }],
        })
      ).statusCode,
    ).toBe(201);
    const put = await call('PUT', '/v1/knowledge/settings', { embeddingAlias: 'kb-embed' });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ embeddingAlias: 'kb-embed', answerAlias: null });
    const before = fake.embeddingRequests.length;
    await upload({ title: 'Own', text: 'Pallets are stacked three high.' }, own.ownerKey);
    await drain();
    const sent = fake.embeddingRequests.slice(before);
    expect(sent.map((r) => r.model)).toEqual(['tenant-embed-model']);
    const [row] = await usageByModel(own.ownerKey);
    expect(row).toMatchObject({ model: 'tenant-embed-model', requests: 1 });
  });
});
