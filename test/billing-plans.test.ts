import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../src/jobs.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import {
  bearer,
  createTestApp,
  ROOT_TOKEN,
  uniqueSlug,
  untilKeyKnown,
  type TestApp,
} from './helpers/app.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type DriverName,
  type TestDatabase,
} from './helpers/db.js';
import { startReceiver, verifyStandardWebhook, type Receiver } from './helpers/webhook-receiver.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 42).toString('base64');
const SETTINGS = { RAMPART_MASTER_KEY: MASTER_KEY, RATE_LIMIT_REDIS_TIMEOUT_MS: '2000' };
const ASK = [{ role: 'user', content: 'a b c' }];
const OUT_TOKENS = 4;

// Quotas live where the gateway's budgets live: in Redis (postgres run with Redis), in process
// (embedded database: both apps share its in-process store, as replicas share Redis) or, on
// PostgreSQL without Redis, in quota_counters.
type Backend = readonly [DriverName, 'in-process' | 'postgres' | 'redis'];
const backends: Backend[] = testDrivers().flatMap((d): Backend[] => {
  if (d === 'pglite') return [[d, 'in-process']];
  return TEST_REDIS_URL
    ? [
        [d, 'postgres'],
        [d, 'redis'],
      ]
    : [[d, 'postgres']];
});

type Tenant = { id: string; ownerKey: string };

function thisPeriod(): { id: string; start: string; end: string } {
  const now = new Date();
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return {
    id: start.toISOString().slice(0, 7),
    start: start.toISOString(),
    end: end.toISOString(),
  };
}

describe.each(backends)('plans, quotas and invoices (%s, quotas %s)', (driver, backend) => {
  let t: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let fake: FakeUpstream;
  let worker: JobQueue;
  let receiver: Receiver;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
    const redisUrl = backend === 'redis' ? TEST_REDIS_URL : undefined;
    a = await createTestApp(t.db, SETTINGS, { redisUrl });
    b = await createTestApp(t.db, SETTINGS, { redisUrl });
    worker = createWorker(t.db, a.config, undefined, a.gateway.calls);
    for (const [kind, handler] of Object.entries(a.webhooks.jobs)) worker.register(kind, handler);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await fake?.close();
    await receiver?.close();
    await t?.close();
  });

  const operator = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, payload?: unknown) =>
    a.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${ROOT_TOKEN}` },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });

  async function tenantWithModel(): Promise<Tenant> {
    const tenant = await a.createTenant();
    const h = bearer(tenant.ownerKey);
    const p = await a.app.inject({
      method: 'POST',
      url: '/v1/providers',
      headers: h,
      payload: { name: 'main', type: 'openai', baseUrl: fake.baseUrl, apiKey: 'sk-fake' },
    });
    expect(p.statusCode, p.body).toBe(201);
    const r = await a.app.inject({
      method: 'POST',
      url: '/v1/routes',
      headers: h,
      payload: { alias: 'fast', targets: [{ provider: 'main', model: 'priced-model', weight: 1 }] },
    });
    expect(r.statusCode, r.body).toBe(201);
    const price = await a.app.inject({
      method: 'PUT',
      url: '/v1/prices/priced-model',
      headers: h,
      payload: { input: 0, output: 1, cachedInput: 0 },
    });
    expect(price.statusCode, price.body).toBe(200);
    return tenant;
  }

  async function plan(body: Record<string, unknown>): Promise<string> {
    const res = await operator('POST', '/admin/v1/plans', { name: uniqueSlug('plan'), ...body });
    expect(res.statusCode, res.body).toBe(201);
    return (res.json() as { id: string }).id;
  }

  async function assign(tenantId: string, planId: string, effectiveFrom: string): Promise<void> {
    const res = await operator('PUT', `/admin/v1/tenants/${tenantId}/plan`, {
      planId,
      effectiveFrom,
    });
    expect(res.statusCode, res.body).toBe(200);
  }

  const chat = (app: TestApp, key: string) =>
    app.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: bearer(key),
      payload: { model: 'fast', messages: ASK, max_tokens: OUT_TOKENS },
    });

  async function settled(): Promise<void> {
    for (const app of [a, b]) {
      await app.gateway.limits.flush();
      await app.gateway.usage.flush();
    }
  }

  async function ledger(tenantId: string) {
    const { rows } = await t.db.withTenant({ tenantId, groups: [] }, (tx) =>
      tx.query<{ n: number; tokens: string; cost: string }>(
        `SELECT count(*)::int AS n, coalesce(sum(prompt_tokens + completion_tokens), 0)::text AS tokens,
                coalesce(sum(cost_usd), 0)::text AS cost
           FROM usage_events WHERE status = 200 AND NOT cache_hit`,
      ),
    );
    const r = rows[0];
    return { requests: r?.n ?? 0, tokens: Number(r?.tokens ?? 0), cost: r?.cost ?? '0' };
  }

  it('plans are operator routes; a revision is a new version', async () => {
    const tenant = await a.createTenant();
    const refused = await a.app.inject({
      method: 'POST',
      url: '/admin/v1/plans',
      headers: bearer(tenant.ownerKey),
      payload: { name: 'x', prices: { baseUsd: 1 }, hardLimit: true },
    });
    expect(refused.statusCode).toBe(401); // the operator token only
    const id = await plan({
      quotas: { requestsPerMonth: 10 },
      prices: { baseUsd: 9.99 },
      hardLimit: true,
    });
    const revised = await operator('PATCH', `/admin/v1/plans/${id}`, { hardLimit: false });
    expect(revised.statusCode, revised.body).toBe(201);
    const v2 = revised.json() as {
      id: string;
      version: number;
      hardLimit: boolean;
      quotas: unknown;
    };
    expect(v2).toMatchObject({ version: 2, hardLimit: false, quotas: { requestsPerMonth: 10 } });
    expect(v2.id).not.toBe(id);
    const one = await operator('GET', `/admin/v1/plans/${id}`);
    expect(one.json()).toMatchObject({ version: 1, hardLimit: true });
    const bad = await operator('POST', '/admin/v1/plans', {
      name: 'bad',
      prices: { baseUsd: 0.0000001 },
      hardLimit: true,
    });
    expect(bad.statusCode).toBe(400);
  });

  it('a hard quota holds under 50 concurrent requests on two instances; 429 in the OpenAI shape', async () => {
    const tenant = await tenantWithModel();
    await untilKeyKnown([a, b], tenant.ownerKey);
    const p = thisPeriod();
    await assign(
      tenant.id,
      await plan({ quotas: { requestsPerMonth: 20 }, prices: { baseUsd: 0 }, hardLimit: true }),
      p.start,
    );
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => chat(i % 2 === 0 ? a : b, tenant.ownerKey)),
    );
    const codes = results.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 200)).toHaveLength(20);
    expect(codes.filter((c) => c === 429)).toHaveLength(30);
    const refused = results.find((r) => r.statusCode === 429);
    expect(refused?.headers['content-type']).toMatch(/^application\/json/);
    expect(refused?.json()).toMatchObject({
      error: { code: 'quota_exceeded', type: 'rate_limit_error' },
    });
    expect(refused?.headers['x-quota-limit']).toBe('20');
    expect(refused?.headers['x-quota-period-end']).toBe(p.end);
    expect(Number(refused?.headers['retry-after'])).toBeGreaterThan(0);
    await settled();
    expect((await ledger(tenant.id)).requests).toBe(20);
    const usage = await b.app.inject({
      method: 'GET',
      url: '/v1/billing/usage',
      headers: bearer(tenant.ownerKey),
    });
    expect(usage.statusCode, usage.body).toBe(200);
    const requests = (usage.json() as { meters: { meter: string }[] }).meters.find(
      (m) => m.meter === 'requests',
    );
    expect(requests).toEqual({ meter: 'requests', quota: 20, used: 20, left: 0, unit: 'requests' });
  });

  it('a soft quota lets traffic through and the preview bills the overage, equal to the ledger to the cent', async () => {
    const tenant = await tenantWithModel();
    const p = thisPeriod();
    await assign(
      tenant.id,
      await plan({
        quotas: { requestsPerMonth: 2, tokensPerMonth: 10, costUsdPerMonth: 0 },
        prices: {
          baseUsd: 10,
          overage: { perThousandRequests: 1000, perMillionTokens: 1_000_000, perUsdCost: 1000 },
        },
        hardLimit: false,
      }),
      p.start,
    );
    for (let i = 0; i < 5; i++)
      expect((await chat(i % 2 ? a : b, tenant.ownerKey)).statusCode).toBe(200);
    await settled();
    const l = await ledger(tenant.id);
    expect(l.requests).toBe(5);
    const res = await a.app.inject({
      method: 'GET',
      url: `/v1/billing/invoice-preview?period=${p.id}`,
      headers: bearer(tenant.ownerKey),
    });
    expect(res.statusCode, res.body).toBe(200);
    const inv = res.json() as {
      lines: { kind: string; meter?: string; amountCents: number }[];
      subtotalCents: number;
      totalCents: number;
    };
    const line = (meter: string) =>
      inv.lines.find((x) => x.kind === 'overage' && x.meter === meter)?.amountCents;
    // Independently from the ledger: $1 a request over 2, $1 a token over 10, $1000 per USD of
    // model cost (the cost is whole ticks of 1e-10 USD: ×1e5 gives cents exactly, then rounded).
    expect(inv.lines.find((x) => x.kind === 'base')?.amountCents).toBe(1000);
    expect(line('requests')).toBe((l.requests - 2) * 100);
    expect(line('tokens')).toBe((l.tokens - 10) * 100);
    expect(line('costUsd')).toBe(Math.round(Number(l.cost) * 1000 * 100));
    const expected =
      1000 + (l.requests - 2) * 100 + (l.tokens - 10) * 100 + Math.round(Number(l.cost) * 1e5);
    expect(inv.subtotalCents).toBe(expected);
    expect(inv.totalCents).toBe(expected);
    const admin = await operator(
      'GET',
      `/admin/v1/tenants/${tenant.id}/invoice-preview?period=${p.id}`,
    );
    expect(admin.json()).toEqual(inv);
  });

  it('a plan change mid-period prorates; closing freezes an audited invoice and sends invoice.closed', async () => {
    const tenant = await a.createTenant();
    const hook = await a.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: bearer(tenant.ownerKey),
      payload: { url: receiver.url, events: ['invoice.closed'] },
    });
    expect(hook.statusCode, hook.body).toBe(201);
    const secret = (hook.json() as { secret: string }).secret;
    const basic = await plan({ prices: { baseUsd: 30 }, hardLimit: true });
    const pro = await plan({ prices: { baseUsd: 60 }, hardLimit: true });
    await assign(tenant.id, basic, '2025-11-01T00:00:00Z');
    await assign(tenant.id, pro, '2025-11-16T00:00:00Z'); // half of November on each
    const preview = await operator(
      'GET',
      `/admin/v1/tenants/${tenant.id}/invoice-preview?period=2025-11`,
    );
    const inv = preview.json() as {
      lines: { kind: string; amountCents: number }[];
      totalCents: number;
    };
    expect(inv.lines.filter((l) => l.kind === 'base').map((l) => l.amountCents)).toEqual([
      1500, 3000,
    ]);
    expect(inv.totalCents).toBe(4500);
    const credit = await operator('POST', `/admin/v1/tenants/${tenant.id}/credits`, {
      period: '2025-11',
      amountUsd: 5.005,
      reason: 'outage',
    });
    expect(credit.statusCode, credit.body).toBe(201);
    const closed = await operator('POST', `/admin/v1/tenants/${tenant.id}/invoices`, {
      period: '2025-11',
    });
    expect(closed.statusCode, closed.body).toBe(200);
    const record = closed.json() as {
      created: boolean;
      invoice: { id: string; invoice: { totalCents: number; creditsCents: number } };
    };
    expect(record.created).toBe(true);
    expect(record.invoice.invoice).toMatchObject({ creditsCents: 501, totalCents: 4500 - 501 });
    const again = await operator('POST', `/admin/v1/tenants/${tenant.id}/invoices`, {
      period: '2025-11',
    });
    expect(again.json()).toEqual({ ...record, created: false });
    // Frozen: the plan history and credits of a closed period no longer change.
    const late = await operator('PUT', `/admin/v1/tenants/${tenant.id}/plan`, {
      planId: basic,
      effectiveFrom: '2025-11-20T00:00:00Z',
    });
    expect(late.statusCode).toBe(409);
    expect((late.json() as { code: string }).code).toBe('period_closed');
    const open = await operator('POST', `/admin/v1/tenants/${tenant.id}/invoices`, {
      period: thisPeriod().id,
    });
    expect((open.json() as { code: string }).code).toBe('period_open');
    const audited = async (action: string) => {
      const res = await a.app.inject({
        method: 'GET',
        url: `/v1/audit-events?action=${action}`,
        headers: bearer(tenant.ownerKey),
      });
      return (res.json() as { data: { actor: { type: string }; target: { id: string } }[] }).data;
    };
    expect((await audited('invoice.closed')).map((e) => e.target.id)).toEqual([record.invoice.id]);
    expect((await audited('plan.assigned')).map((e) => e.actor.type)).toEqual([
      'operator',
      'operator',
    ]);
    expect(await audited('billing_credit.granted')).toHaveLength(1);
    const before = receiver.requests.length;
    await worker.drain();
    const got = receiver.requests.slice(before).filter((r) => r.body.includes(record.invoice.id));
    expect(got).toHaveLength(1);
    const message = got[0];
    expect(message && (await verifyStandardWebhook(secret, message))).toBe(true);
    expect(JSON.parse(message?.body ?? '{}')).toMatchObject({
      type: 'invoice.closed',
      data: { invoiceId: record.invoice.id, period: '2025-11', totalCents: 3999 },
    });
    const listed = await a.app.inject({
      method: 'GET',
      url: '/v1/billing/invoices',
      headers: bearer(tenant.ownerKey),
    });
    expect((listed.json() as { data: { id: string }[] }).data.map((x) => x.id)).toEqual([
      record.invoice.id,
    ]);
  });

  it('a hard documents quota answers 429 problem+json; deleting a document frees its unit', async () => {
    const tenant = await a.createTenant();
    await assign(
      tenant.id,
      await plan({ quotas: { documents: 1 }, prices: { baseUsd: 0 }, hardLimit: true }),
      thisPeriod().start,
    );
    const upload = (title: string) =>
      a.app.inject({
        method: 'POST',
        url: '/v1/documents',
        headers: bearer(tenant.ownerKey),
        payload: { title, text: `${title} body` },
      });
    const first = await upload('one');
    expect(first.statusCode, first.body).toBe(202);
    const second = await upload('two');
    expect(second.statusCode).toBe(429);
    expect(second.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(second.json()).toMatchObject({
      code: 'quota_exceeded',
      meter: 'documents',
      quota: 1,
      periodEnd: thisPeriod().end,
    });
    expect(Number(second.headers['retry-after'])).toBeGreaterThan(0);
    const id = (first.json() as { id: string }).id;
    const del = await a.app.inject({
      method: 'DELETE',
      url: `/v1/documents/${id}`,
      headers: bearer(tenant.ownerKey),
    });
    expect(del.statusCode, del.body).toBe(204);
    expect((await upload('three')).statusCode).toBe(202);
  });

  it('a seats quota holds invitations', async () => {
    const tenant = await a.createTenant();
    await assign(
      tenant.id,
      await plan({ quotas: { seats: 1 }, prices: { baseUsd: 0 }, hardLimit: true }),
      thisPeriod().start,
    );
    const invite = (email: string) =>
      a.app.inject({
        method: 'POST',
        url: '/v1/users/invitations',
        headers: bearer(tenant.ownerKey),
        payload: { email, role: 'member' },
      });
    expect((await invite('one@example.com')).statusCode).toBe(201);
    const over = await invite('two@example.com');
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ code: 'quota_exceeded', meter: 'seats' });
  });

  it('an agentRuns quota holds copilot run creation (429 problem+json, no run created)', async () => {
    const tenant = await tenantWithModel();
    await assign(
      tenant.id,
      await plan({ quotas: { agentRunsPerMonth: 1 }, prices: { baseUsd: 0 }, hardLimit: true }),
      thisPeriod().start,
    );
    const agent = await a.app.inject({
      method: 'POST',
      url: '/v1/agents',
      headers: bearer(tenant.ownerKey),
      payload: { name: 'quota', instructions: 'Answer briefly.', model: 'fast', tools: [] },
    });
    expect(agent.statusCode, agent.body).toBe(201);
    const start = (app: TestApp) =>
      app.app.inject({
        method: 'POST',
        url: `/v1/agents/${(agent.json() as { id: string }).id}/runs`,
        headers: bearer(tenant.ownerKey),
        payload: { input: 'Hello.' },
      });
    expect((await start(a)).statusCode).toBe(201);
    const over = await start(b);
    expect(over.statusCode).toBe(429);
    expect(over.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(over.json()).toMatchObject({ code: 'quota_exceeded', meter: 'agentRuns' });
    const runs = await a.app.inject({
      method: 'GET',
      url: '/v1/runs',
      headers: bearer(tenant.ownerKey),
    });
    expect((runs.json() as { data: unknown[] }).data).toHaveLength(1);
  });

  it('quota.threshold is delivered once at 80 % and once at 100 %', async () => {
    const tenant = await tenantWithModel();
    const hook = await a.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: bearer(tenant.ownerKey),
      payload: { url: receiver.url, events: ['quota.threshold'] },
    });
    expect(hook.statusCode, hook.body).toBe(201);
    const hookId = (hook.json() as { id: string }).id;
    await assign(
      tenant.id,
      await plan({ quotas: { requestsPerMonth: 5 }, prices: { baseUsd: 0 }, hardLimit: true }),
      thisPeriod().start,
    );
    for (let i = 0; i < 5; i++) expect((await chat(a, tenant.ownerKey)).statusCode).toBe(200);
    expect((await chat(a, tenant.ownerKey)).statusCode).toBe(429);
    await settled();
    await worker.drain();
    const deliveries = await a.app.inject({
      method: 'GET',
      url: `/v1/webhooks/${hookId}/deliveries`,
      headers: bearer(tenant.ownerKey),
    });
    const rows = (deliveries.json() as { data: { eventType: string; state: string }[] }).data;
    expect(rows.map((r) => [r.eventType, r.state])).toEqual([
      ['quota.threshold', 'delivered'],
      ['quota.threshold', 'delivered'],
    ]);
    const bodies = receiver.requests
      .filter((r) => r.body.includes('quota.threshold') && r.body.includes(thisPeriod().id))
      .map((r) => JSON.parse(r.body) as { data: Record<string, unknown> })
      .filter((m) => m.data.quota === 5);
    expect(bodies.map((m) => [m.data.meter, m.data.percent, m.data.used])).toEqual(
      expect.arrayContaining([
        ['requests', 80, 4],
        ['requests', 100, 5],
      ]),
    );
  });
});
