import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

interface Bucket {
  day?: string;
  key_id?: string | null;
  model?: string | null;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost_usd: number;
}

describe.each(testDrivers())('gateway: usage ledger and GET /v1/usage (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: FakeUpstream;
  let tenant: { id: string; slug: string; ownerKey: string };

  async function put(url: string, payload: object, method: 'POST' | 'PUT' = 'POST') {
    const r = await app.app.inject({ method, url, headers: bearer(tenant.ownerKey), payload });
    expect(r.statusCode, r.body).toBeLessThan(300);
  }

  async function usage(query: string, key = tenant.ownerKey) {
    const r = await app.app.inject({
      method: 'GET',
      url: `/v1/usage${query}`,
      headers: bearer(key),
    });
    return { status: r.statusCode, body: r.json() as { data: Bucket[]; group_by: string } };
  }

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
    // A long flush interval and a small batch: rows reach the table because the batch fills
    // (or because a test flushes), never by the timer.
    app = await createTestApp(t.db, {
      RAMPART_MASTER_KEY: MASTER_KEY,
      GATEWAY_USAGE_FLUSH_MS: '60000',
      GATEWAY_USAGE_BATCH_MAX: '4',
    });
    tenant = await app.createTenant();
    await put('/v1/providers', {
      name: 'main',
      type: 'openai',
      baseUrl: fake.baseUrl,
      apiKey: 'sk-main-123456',
    });
    for (const [alias, model] of [
      ['m', 'gpt-4o-mini'],
      ['n', 'gpt-4.1-nano'],
    ] as const) {
      await put('/v1/routes', { alias, targets: [{ provider: 'main', model, weight: 1 }] });
    }
    await put('/v1/prices/gpt-4o-mini', { input: 1, output: 2, cachedInput: 0.5 }, 'PUT');
    await put('/v1/prices/gpt-4.1-nano', { input: 10, output: 20, cachedInput: 5 }, 'PUT');
    // 5 + 2 concurrent requests, each 'a b c': 4 prompt tokens (3 words + 1 per message) and
    // 4 completion tokens ('echo: a b c').
    const calls = [...Array<string>(5).fill('m'), 'n', 'n'].map((model) =>
      app.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: bearer(tenant.ownerKey),
        payload: { model, messages: [{ role: 'user', content: 'a b c' }] },
      }),
    );
    for (const r of await Promise.all(calls)) expect(r.statusCode, r.body).toBe(200);
  });
  afterAll(async () => {
    await app?.close();
    await fake?.close();
    await t?.close();
  });

  it('batches: full batches are written at once, the rest on flush; one row per request', async () => {
    const count = () =>
      t.asOwner(async (q) => {
        const { rows } = await q.query<{ n: string | number }>(
          `SELECT count(*) AS n FROM usage_events WHERE tenant_id = $1`,
          [tenant.id],
        );
        return Number(rows[0]?.n);
      });
    // Two full batches of 4 would need 8 rows; 7 requests fill one, leaving 3 buffered.
    for (let i = 0; i < 100 && (await count()) < 4; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await count()).toBe(4);
    await app.gateway.usage.flush();
    expect(await count()).toBe(7);
  });

  it('sums requests, tokens and cost by model, day and key', async () => {
    await app.gateway.usage.flush();
    const byModel = await usage('?groupBy=model');
    expect(byModel.status).toBe(200);
    expect(byModel.body.group_by).toBe('model');
    expect(byModel.body.data).toEqual([
      {
        model: 'gpt-4.1-nano',
        requests: 2,
        prompt_tokens: 8,
        completion_tokens: 8,
        cached_tokens: 0,
        cost_usd: (2 * (4 * 10 + 4 * 20)) / 1e6,
      },
      {
        model: 'gpt-4o-mini',
        requests: 5,
        prompt_tokens: 20,
        completion_tokens: 20,
        cached_tokens: 0,
        cost_usd: (5 * (4 * 1 + 4 * 2)) / 1e6,
      },
    ]);
    const byDay = await usage('?groupBy=day');
    expect(byDay.body.data).toMatchObject([
      { day: new Date().toISOString().slice(0, 10), requests: 7, prompt_tokens: 28 },
    ]);
    const byKey = await usage('?groupBy=key');
    expect(byKey.body.data).toHaveLength(1);
    expect(byKey.body.data[0]).toMatchObject({ requests: 7, completion_tokens: 28 });
    expect(byKey.body.data[0]?.key_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('honours the from/to range and refuses an empty one', async () => {
    const future = new Date(Date.now() + 86_400_000).toISOString();
    const later = new Date(Date.now() + 2 * 86_400_000).toISOString();
    expect((await usage(`?from=${future}&to=${later}`)).body.data).toEqual([]);
    const bad = await usage(`?from=${later}&to=${future}`);
    expect(bad.status).toBe(400);
    expect((await usage('?groupBy=week')).status).toBe(400);
  });

  it('is tenant-scoped: another tenant sees none of it', async () => {
    const other = await app.createTenant();
    const r = await usage('?groupBy=model', other.ownerKey);
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual([]);
  });

  it('closing the app writes rows still buffered', async () => {
    const second = await createTestApp(t.db, {
      RAMPART_MASTER_KEY: MASTER_KEY,
      GATEWAY_USAGE_FLUSH_MS: '60000',
    });
    second.gateway.usage.record(
      {
        kind: 'api_key',
        tenantId: tenant.id,
        tenantSlug: tenant.slug,
        userId: null,
        keyId: null,
        role: 'owner',
        permissions: new Set(),
        groups: [],
      },
      {
        keyId: null,
        userId: null,
        endpoint: 'chat',
        alias: 'm',
        provider: 'main',
        targetModel: 'gpt-4o-mini',
        promptTokens: 1,
        completionTokens: 1,
        cachedTokens: 0,
        latencyMs: 1,
        upstreamLatencyMs: 1,
        status: 200,
        stream: false,
        cacheHit: false,
        requestId: 'buffered-at-close',
      },
    );
    await second.close();
    const rows = await t.asOwner(async (q) => {
      const { rows } = await q.query<{ cost_usd: string }>(
        `SELECT cost_usd::text FROM usage_events WHERE request_id = 'buffered-at-close'`,
      );
      return rows;
    });
    expect(rows.map((r) => Number(r.cost_usd))).toEqual([3 / 1e6]);
  });
});
