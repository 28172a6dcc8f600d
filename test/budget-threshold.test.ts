import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { announceBudgetThresholds } from '../src/gateway/limits/thresholds.js';
import { addSpentTicks } from '../src/gateway/limits/store.js';
import { toTicks, type BudgetScope } from '../src/gateway/limits/budgets.js';
import { createWorker } from '../src/jobs.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { startReceiver, verifyStandardWebhook, type Receiver } from './helpers/webhook-receiver.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 31).toString('base64');
// The fake answers "echo: a b c": 4 completion tokens. With max_tokens 4 and a price on output
// tokens only, each request reserves and settles exactly 0.000004 USD; the budget fits 10.
const BUDGET = 0.00004;

interface Message {
  type: string;
  data: {
    scope: string;
    keyId?: string;
    threshold: number;
    budgetUsd: number;
    spentUsd: string;
    period: string;
    periodStart: string;
  };
}

describe.each(testDrivers())('budget.threshold webhook (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: FakeUpstream;
  let receiver: Receiver;
  let worker: JobQueue;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(
      t.db,
      { RAMPART_MASTER_KEY: MASTER_KEY, RATE_LIMIT_REDIS_TIMEOUT_MS: '2000' },
      { redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined },
    );
    fake = await startFakeOpenAI();
    receiver = await startReceiver();
    worker = createWorker(t.db, app.config, undefined, app.gateway.calls);
    for (const [kind, h] of Object.entries(app.webhooks.jobs)) worker.register(kind, h);
  });
  afterAll(async () => {
    await app?.close();
    await fake?.close();
    await receiver?.close();
    await t?.close();
  });

  async function call(key: string, method: 'POST' | 'PUT', url: string, payload: object) {
    const r = await app.app.inject({ method, url, headers: bearer(key), payload });
    expect(r.statusCode, r.body).toBeLessThan(300);
    return r.json() as Record<string, unknown>;
  }

  const received = (tenantKeyOrId: string): Message[] =>
    receiver.requests
      .map((r) => JSON.parse(r.body) as Message)
      .filter((m) => m.type === 'budget.threshold' && JSON.stringify(m).includes(tenantKeyOrId));

  it('a key budget crossing 50, 80 and 100 % sends one event per threshold, signed, however often spend settles', async () => {
    const tenant = await app.createTenant();
    const owner = tenant.ownerKey;
    await call(owner, 'POST', '/v1/providers', {
      name: 'main',
      type: 'openai',
      baseUrl: fake.baseUrl,
      apiKey: 'sk-fake',
    });
    await call(owner, 'POST', '/v1/routes', {
      alias: 'fast',
      targets: [{ provider: 'main', model: 'priced-model', weight: 1 }],
    });
    await call(owner, 'PUT', '/v1/prices/priced-model', { input: 0, output: 1, cachedInput: 0 });
    const hook = await call(owner, 'POST', '/v1/webhooks', {
      url: receiver.url,
      events: ['budget.threshold'],
    });
    const created = await call(owner, 'POST', '/v1/api-keys', {
      name: 'budgeted',
      role: 'member',
      // 0.00004 written out: 10 × 4e-6 in floating point is a hair below it.
      limits: { budgetUsd: BUDGET, budgetPeriod: 'month' },
    });
    const key = String(created.secret);
    const keyId = String(created.id);
    const chat = () =>
      app.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: bearer(key),
        payload: { model: 'fast', messages: [{ role: 'user', content: 'a b c' }], max_tokens: 4 },
      });
    // One request at a time, spend written and the outbox drained after each: 10 fit.
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push((await chat()).statusCode);
      await app.gateway.limits.flush();
      await worker.drain();
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses.slice(10)).toEqual([429, 429]);
    await worker.drain();
    const got = received(keyId);
    expect(got.map((m) => m.data.threshold)).toEqual([50, 80, 100]);
    for (const m of got)
      expect(m.data).toMatchObject({
        scope: 'key',
        keyId,
        period: 'month',
        periodStart: `${new Date().toISOString().slice(0, 8)}01`,
        budgetUsd: BUDGET,
      });
    // Each announced when the settled spend first reached it: 5, 8 and 10 requests.
    expect(got.map((m) => m.data.spentUsd)).toEqual([
      '0.0000200000',
      '0.0000320000',
      '0.0000400000',
    ]);
    const secret = String(hook.secret);
    for (const r of receiver.requests.filter((x) => x.body.includes(keyId)))
      expect(await verifyStandardWebhook(secret, r)).toBe(true);
  });

  it('settling again, from any number of transactions at once, announces nothing twice; a new period starts over', async () => {
    const tenant = await app.createTenant();
    const scope = (periodStart: string): BudgetScope => ({
      scope: 'tenant',
      scopeId: tenant.id,
      period: 'month',
      periodStart,
      budgetUsd: 1,
    });
    const claimed = async (s: BudgetScope, usd: number) =>
      t.db.withTenant({ tenantId: tenant.id, groups: [] }, async (tx) => {
        await addSpentTicks(tx, [{ scope: s, ticks: toTicks(usd) }]);
        await announceBudgetThresholds(tx, [s]);
      });
    const events = async () =>
      (
        await t.db.withTenant({ tenantId: tenant.id, groups: [] }, (tx) =>
          tx.query<{ period_start: string; threshold: number }>(
            `SELECT period_start::text AS period_start, threshold FROM budget_thresholds_crossed
              WHERE tenant_id = $1 ORDER BY period_start, threshold`,
            [tenant.id],
          ),
        )
      ).rows.map((r) => `${r.period_start}:${r.threshold}`);
    await claimed(scope('2026-11-01'), 0.49);
    expect(await events()).toEqual([]);
    // Eight settlements at once cross 50 % together (and later 80 %): each threshold once.
    await Promise.all(Array.from({ length: 8 }, () => claimed(scope('2026-11-01'), 0.05)));
    expect(await events()).toEqual(['2026-11-01:50', '2026-11-01:80']);
    await claimed(scope('2026-11-01'), 0.5);
    await claimed(scope('2026-11-01'), 0.5);
    expect(await events()).toEqual(['2026-11-01:50', '2026-11-01:80', '2026-11-01:100']);
    await claimed(scope('2026-12-01'), 0.6);
    expect(await events()).toEqual([
      '2026-11-01:50',
      '2026-11-01:80',
      '2026-11-01:100',
      '2026-12-01:50',
    ]);
  });
});
