import { countTokens } from 'gpt-tokenizer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';
import { tenantWithFakeProvider } from './helpers/gateway-setup.js';

const MASTER_KEY = Buffer.alloc(32, 11).toString('base64');

type Tenant = { id: string; ownerKey: string };

/** The value of one sample of the exposition text whose labels include all of `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf('{');
    const labelText = open >= 0 ? line.slice(open + 1, line.lastIndexOf('}')) : '';
    if (!Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) continue;
    total = (total ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  if (total === undefined) throw new Error(`no sample ${name} ${JSON.stringify(labels)}`);
  return total;
}

async function setupTenant(app: TestApp, fake: FakeUpstream): Promise<Tenant> {
  const { tenant: t, send } = await tenantWithFakeProvider(app, fake);
  const route = (alias: string, model: string, extra: object = {}) =>
    send('POST', '/v1/routes', {
      alias,
      targets: [{ provider: 'main', model, weight: 1 }],
      ...extra,
    });
  await route('m', 'priced-model');
  await route('c', 'priced-model', { cache: { ttlSeconds: 60 } });
  await route('nu', 'no-usage');
  await route('nu-embed', 'no-usage');
  await route('boom', 'fail-500');
  await send('PUT', '/v1/prices/priced-model', { input: 1, output: 1, cachedInput: 0 });
  await send('PUT', '/v1/prices/no-usage', { input: 1, output: 1, cachedInput: 0 });
  return t;
}

describe.each(testDrivers())('gateway metrics and offline usage estimates (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: FakeUpstream;
  let tenant: Tenant;
  let budgeted: { id: string; secret: string };
  let tiny: { id: string; secret: string };

  const chat = (key: string, body: Record<string, unknown>) =>
    app.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: bearer(key),
      payload: body,
    });
  const metrics = async () => (await app.app.inject({ method: 'GET', url: '/metrics' })).body;

  async function usageRow(requestId: string) {
    await app.gateway.usage.flush();
    return t.asOwner(async (q) => {
      const { rows } = await q.query<{
        prompt_tokens: number;
        completion_tokens: number;
        cost_usd: string | null;
        usage_estimated: boolean;
      }>(
        `SELECT prompt_tokens, completion_tokens, cost_usd::text, usage_estimated
           FROM usage_events WHERE tenant_id = $1 AND request_id = $2`,
        [tenant.id, requestId],
      );
      return rows[0];
    });
  }

  async function keySpend(keyId: string): Promise<number> {
    await app.gateway.limits.flush();
    return t.asOwner(async (q) => {
      const { rows } = await q.query<{ spent_usd: string }>(
        `SELECT spent_usd::text FROM budget_spend WHERE tenant_id = $1 AND scope_id = $2`,
        [tenant.id, keyId],
      );
      return Number(rows[0]?.spent_usd ?? NaN);
    });
  }

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
    app = await createTestApp(t.db, {
      RAMPART_MASTER_KEY: MASTER_KEY,
      // One failed call opens a breaker, with no retry: the circuit gauge has something to show.
      GATEWAY_BREAKER_THRESHOLD: '1',
      GATEWAY_RETRY_ATTEMPTS: '1',
    });
    tenant = await setupTenant(app, fake);
    // Keys exist before the tenant's first request, so no cached configuration predates them.
    const key = async (name: string, budgetUsd: number) => {
      const r = await app.app.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: bearer(tenant.ownerKey),
        payload: { name, role: 'member', limits: { budgetUsd, budgetPeriod: 'day' } },
      });
      expect(r.statusCode, r.body).toBe(201);
      return r.json<{ id: string; secret: string }>();
    };
    budgeted = await key('budgeted', 1);
    tiny = await key('tiny', 0.000001);
  });
  afterAll(async () => {
    await app?.close();
    await fake?.close();
    await t?.close();
  });

  it('exposes requests, tokens, cost, latencies, cache hits, rejections and circuit state', async () => {
    const ask = [{ role: 'user', content: 'a b c' }];
    const plain = await chat(tenant.ownerKey, { model: 'm', messages: ask, max_tokens: 10 });
    expect(plain.statusCode, plain.body).toBe(200);
    const streamed = await chat(tenant.ownerKey, { model: 'm', messages: ask, stream: true });
    expect(streamed.body).toContain('data: [DONE]');
    for (let i = 0; i < 2; i++)
      expect((await chat(tenant.ownerKey, { model: 'c', messages: ask })).statusCode).toBe(200);
    // 100 output tokens at $1/M cannot be reserved from a $0.000001 budget.
    const refused = await chat(tiny.secret, { model: 'm', messages: ask, max_tokens: 100 });
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: { code: 'budget_exceeded' } });
    expect((await chat(tenant.ownerKey, { model: 'boom', messages: ask })).statusCode).toBe(502);
    await app.gateway.usage.flush();

    const text = await metrics();
    const target = { provider: 'main', model: 'priced-model' };
    const ok = { endpoint: 'chat', alias: 'm', ...target, status: '200', cache: 'off' };
    expect(sample(text, 'rampart_gateway_requests_total', ok)).toBe(2);
    expect(sample(text, 'rampart_gateway_requests_total', { alias: 'c', cache: 'miss' })).toBe(1);
    expect(sample(text, 'rampart_gateway_requests_total', { alias: 'c', cache: 'hit' })).toBe(1);
    expect(sample(text, 'rampart_gateway_requests_total', { alias: 'boom', status: '502' })).toBe(
      1,
    );
    // The fake's usage for 'a b c': 4 prompt and 4 completion tokens per call; three upstream
    // calls on priced-model (plain, stream, the cache miss); the hit consumed none.
    expect(sample(text, 'rampart_gateway_tokens_total', { ...target, type: 'input' })).toBe(12);
    expect(sample(text, 'rampart_gateway_tokens_total', { ...target, type: 'output' })).toBe(12);
    // Tenant price of $1/M both ways, on 24 tokens.
    expect(sample(text, 'rampart_gateway_cost_usd_total', target)).toBeCloseTo(24 / 1e6, 12);
    // The same totals by tenant (id), for the operator's cost-by-tenant panels.
    const mine = { tenant: tenant.id };
    expect(sample(text, 'rampart_gateway_tenant_tokens_total', { ...mine, type: 'input' })).toBe(
      12,
    );
    expect(sample(text, 'rampart_gateway_tenant_tokens_total', { ...mine, type: 'output' })).toBe(
      12,
    );
    expect(sample(text, 'rampart_gateway_tenant_cost_usd_total', mine)).toBeCloseTo(24 / 1e6, 12);
    expect(
      sample(text, 'rampart_gateway_upstream_latency_seconds_count', {
        endpoint: 'chat',
        ...target,
      }),
    ).toBe(3);
    expect(sample(text, 'rampart_gateway_time_to_first_token_seconds_count', target)).toBe(1);
    expect(sample(text, 'rampart_gateway_overhead_seconds_count', { stream: 'true' })).toBe(1);
    // plain and the two cache requests; refused and failed requests have no overhead figure.
    expect(sample(text, 'rampart_gateway_overhead_seconds_count', { stream: 'false' })).toBe(3);
    expect(
      sample(text, 'rampart_gateway_rejections_total', {
        reason: 'budget_exceeded',
        scope: 'key',
      }),
    ).toBe(1);
    expect(
      sample(text, 'rampart_gateway_circuit_breakers', {
        provider: 'main',
        model: 'fail-500',
        state: 'open',
      }),
    ).toBe(1);
    expect(sample(text, 'rampart_gateway_circuit_breakers', { ...target, state: 'closed' })).toBe(
      1,
    );
    // No key id anywhere in the gateway's series; the tenant id only in the per-tenant totals.
    const gatewayLines = text.split('\n').filter((l) => l.startsWith('rampart_gateway_'));
    expect(gatewayLines.join('\n')).not.toContain(budgeted.id);
    const withTenant = gatewayLines.filter((l) => !l.startsWith('#') && l.includes(tenant.id));
    expect(withTenant.length).toBeGreaterThan(0);
    for (const line of withTenant) expect(line).toMatch(/^rampart_gateway_tenant_/);
  });

  it('estimates usage offline when the provider reports none, and settles the budget on it', async () => {
    const question = 'how many tokens are in this prompt, roughly?';
    const r = await chat(budgeted.secret, {
      model: 'nu',
      messages: [{ role: 'user', content: question }],
    });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).not.toHaveProperty('usage');
    const prompt = 3 + 3 + countTokens(question);
    const completion = countTokens(`echo: ${question}`);
    const row = await usageRow(String(r.headers['x-request-id']));
    expect(row).toMatchObject({
      usage_estimated: true,
      prompt_tokens: prompt,
      completion_tokens: completion,
    });
    const cost = (prompt + completion) / 1e6;
    expect(Number(row?.cost_usd)).toBeCloseTo(cost, 12);
    expect(await keySpend(budgeted.id)).toBeCloseTo(cost, 12);

    // A stream that ends without a usage chunk, though the client asked for one.
    const s = await chat(budgeted.secret, {
      model: 'nu',
      messages: [{ role: 'user', content: question }],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(s.body).toContain('data: [DONE]');
    const streamed = await usageRow(String(s.headers['x-request-id']));
    expect(streamed).toMatchObject({
      usage_estimated: true,
      prompt_tokens: prompt,
      completion_tokens: completion,
    });
    expect(await keySpend(budgeted.id)).toBeCloseTo(2 * cost, 12);

    // Embeddings without usage: the inputs are counted.
    const e = await app.app.inject({
      method: 'POST',
      url: '/v1/embeddings',
      headers: bearer(tenant.ownerKey),
      payload: { model: 'nu-embed', input: ['first text', 'and a second one'] },
    });
    expect(e.statusCode, e.body).toBe(200);
    expect(await usageRow(String(e.headers['x-request-id']))).toMatchObject({
      usage_estimated: true,
      prompt_tokens: countTokens('first text') + countTokens('and a second one'),
      completion_tokens: 0,
    });

    // The provider's own usage is used as is, and is not marked estimated.
    const real = await chat(tenant.ownerKey, {
      model: 'm',
      messages: [{ role: 'user', content: question }],
    });
    expect(await usageRow(String(real.headers['x-request-id']))).toMatchObject({
      usage_estimated: false,
      prompt_tokens: 8 + 1,
    });
  });
});
