import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { embedderFromConfig, OpenAIEmbedder } from '../src/knowledge/embed-openai.js';
import { LocalHashEmbedder } from '../src/knowledge/embed.js';
import { createWorker } from '../src/knowledge/worker.js';
import { startScriptedUpstream, type ScriptedUpstream } from './fakes/fake-openai-scripted.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

const BASE = { RAMPART_SECRET_KEY: 'x'.repeat(32) };

describe('embedderFromConfig', () => {
  it('uses the local embedder when no endpoint is configured', () => {
    expect(embedderFromConfig(loadConfig(BASE))).toBeInstanceOf(LocalHashEmbedder);
  });

  it('refuses at start-up a model whose dimension does not fit the chunks column', () => {
    const config = loadConfig({
      ...BASE,
      EMBEDDINGS_BASE_URL: 'http://127.0.0.1:9/v1',
      EMBEDDINGS_MODEL: 'nomic-embed-text',
      EMBEDDINGS_DIMENSIONS: '768',
    });
    expect(() => embedderFromConfig(config)).toThrow(
      /EMBEDDINGS_DIMENSIONS is 768, but chunks\.embedding is vector\(1024\)/,
    );
  });

  it('requires a model name with an endpoint', () => {
    const config = loadConfig({ ...BASE, EMBEDDINGS_BASE_URL: 'http://127.0.0.1:9/v1' });
    expect(() => embedderFromConfig(config)).toThrow(/EMBEDDINGS_MODEL must be set/);
  });
});

describe('OpenAIEmbedder', () => {
  let fake: ScriptedUpstream;
  beforeAll(async () => {
    fake = await startScriptedUpstream();
  });
  afterAll(async () => fake?.close());

  const embedder = (maxRetries = 3) =>
    new OpenAIEmbedder({
      baseUrl: fake.baseUrl,
      model: 'fake-embed',
      dimension: 1024,
      apiKey: 'sk-embed',
      batchSize: 2,
      maxRetries,
      retryBaseMs: 0,
    });

  it('batches, keeps input order, and retries 429 and 5xx', async () => {
    fake.embeddingRequests.length = 0;
    fake.failNext.push(500, 429);
    const texts = ['alpha one', 'beta two', 'gamma three', 'delta four', 'epsilon five'];
    const vectors = await embedder().embed(texts);
    const local = new LocalHashEmbedder();
    expect(vectors).toEqual(texts.map((t) => local.embedOne(t)));
    // Two failed attempts of the first batch, then three batches of at most two.
    expect(fake.embeddingRequests.map((r) => r.input)).toEqual([
      ['alpha one', 'beta two'],
      ['alpha one', 'beta two'],
      ['alpha one', 'beta two'],
      ['gamma three', 'delta four'],
      ['epsilon five'],
    ]);
    expect(fake.embeddingRequests.every((r) => r.model === 'fake-embed')).toBe(true);
  });

  it('gives up after the configured retries, and does not retry a 400', async () => {
    fake.embeddingRequests.length = 0;
    fake.failNext.push(503, 503);
    await expect(embedder(1).embed(['x'])).rejects.toThrow(/answered 503/);
    expect(fake.embeddingRequests).toHaveLength(2);
    fake.failNext.length = 0;
    fake.embeddingRequests.length = 0;
    fake.failNext.push(400);
    await expect(embedder(3).embed(['x'])).rejects.toThrow(/answered 400/);
    expect(fake.embeddingRequests).toHaveLength(1);
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
  const drain = () => createWorker(t.db, app.config).drain();
  const embeddedTexts = () => fake.embeddingRequests.flatMap((r) => r.input);

  beforeAll(async () => {
    fake = await startScriptedUpstream();
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, {
      EMBEDDINGS_BASE_URL: fake.baseUrl,
      EMBEDDINGS_MODEL: 'fake-embed',
      EMBEDDINGS_API_KEY: 'sk-fake-embed-key',
      EMBEDDINGS_BATCH_SIZE: '1',
      EMBEDDINGS_RETRY_BASE_MS: '0',
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
    fake.failNext.push(500, 500, 500, 500, 500);
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
});
