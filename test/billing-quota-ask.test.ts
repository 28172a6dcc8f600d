import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedUpstream, type ScriptedUpstream } from './fakes/fake-openai-scripted.js';
import { bearer, createTestApp, ROOT_TOKEN, type TestApp } from './helpers/app.js';
import {
  createTestDatabase,
  TEST_REDIS_URL,
  testDrivers,
  type TestDatabase,
} from './helpers/db.js';
import { seedKnowledgeCorpus } from './helpers/knowledge-corpus.js';

/**
 * A plan's hard quota holds the in-process paths too: /v1/ask's generative answer is a gateway
 * call counted against requestsPerMonth, refused with 429 quota_exceeded (problem+json) before
 * the upstream is asked once the quota is used up.
 */
describe.each(testDrivers())('plan quotas on /v1/ask (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: ScriptedUpstream;

  beforeAll(async () => {
    fake = await startScriptedUpstream();
    fake.chatReply = () => 'Refunds are possible within 30 days.';
    t = await createTestDatabase(driver);
    app = await createTestApp(
      t.db,
      {
        ASK_CHAT_BASE_URL: fake.baseUrl,
        ASK_CHAT_MODEL: 'gpt-4o-mini',
        ASK_CHAT_API_KEY: 'sk-fake-chat-key',
      },
      { redisUrl: TEST_REDIS_URL },
    );
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
    await fake?.close();
  });

  const operator = (method: 'POST' | 'PUT', url: string, payload: Record<string, unknown>) =>
    app.app.inject({ method, url, headers: { authorization: `Bearer ${ROOT_TOKEN}` }, payload });

  it('answers within the quota, then refuses with 429 quota_exceeded without calling the model', async () => {
    const { tenant, plainKey } = await seedKnowledgeCorpus(app, t.db, [
      {
        name: 'refunds',
        payload: { title: 'Refund policy', text: 'Customers may request a refund within 30 days.' },
      },
    ]);
    const plan = await operator('POST', '/admin/v1/plans', {
      name: `ask-quota-${tenant.slug}`,
      quotas: { requestsPerMonth: 1 },
      prices: { baseUsd: 0 },
      hardLimit: true,
    });
    expect(plan.statusCode, plan.body).toBe(201);
    const now = new Date();
    const assigned = await operator('PUT', `/admin/v1/tenants/${tenant.id}/plan`, {
      planId: (plan.json() as { id: string }).id,
      effectiveFrom: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString(),
    });
    expect(assigned.statusCode, assigned.body).toBe(200);

    const ask = () =>
      app.app.inject({
        method: 'POST',
        url: '/v1/ask',
        headers: bearer(plainKey),
        payload: { question: 'How do I request a refund?', mode: 'generative' },
      });
    const first = await ask();
    expect(first.statusCode, first.body).toBe(200);
    const asked = fake.chatRequests.length;
    const over = await ask();
    expect(over.statusCode, over.body).toBe(429);
    expect(over.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(over.json()).toMatchObject({ code: 'quota_exceeded', meter: 'requests' });
    expect(fake.chatRequests.length).toBe(asked);
  });
});
