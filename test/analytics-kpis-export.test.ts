import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollUpTenant } from '../src/analytics/rollups-service.js';
import { exportUsage, setCustomer, type BillingIo } from '../src/cli/billing.js';
import { bearer, createTestApp, ROOT_TOKEN, SERVER_SECRET, type TestApp } from './helpers/app.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { ledgerRow, writeLedger } from './helpers/ledger.js';

interface Kpis {
  group_by: string;
  from: string;
  to: string;
  rolled_up_at: string | null;
  data: Record<string, unknown>[];
  totals: Record<string, unknown>;
}

describe.each(testDrivers())('usage KPIs and the billing export (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let dir: string;
  const KEY_A = randomUUID();
  const KEY_B = randomUUID();
  const USER = randomUUID();

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(
      t.db,
      {},
      { redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined },
    );
    dir = mkdtempSync(join(tmpdir(), 'rampart-export-'));
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const kpis = async (key: string, query: string) => {
    const r = await app.app.inject({
      method: 'GET',
      url: `/v1/analytics/kpis?${query}`,
      headers: bearer(key),
    });
    return { status: r.statusCode, body: r.json() as Kpis };
  };

  const io = (out: string[], now = new Date('2026-12-07T12:00:00Z')): BillingIo => ({
    db: t.db,
    serverSecret: SERVER_SECRET,
    out: (l) => out.push(l),
    err: (l) => out.push(l),
    now: () => now,
  });

  /**
   * `rampart billing export`, run again while it answers "not rolled up yet; try again" (exit 1,
   * as documented): the rollup step stops below the oldest transaction still open on the whole
   * PostgreSQL server, which other suites' transactions on the same server can hold for a moment.
   */
  async function exportSettled(
    out: string[],
    opts: Parameters<typeof exportUsage>[1],
    now?: Date,
  ): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const mark = out.length;
      const code = await exportUsage(io(out, now), opts);
      const inFlight = out.slice(mark).some((l) => l.includes('are not rolled up yet'));
      if (code !== 1 || !inFlight || attempt === 100) return code;
      out.length = mark;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A tenant with known November traffic, rolled up. */
  async function tenantWithTraffic() {
    const tenant = await app.createTenant();
    await writeLedger(t.db, tenant.id, [
      ledgerRow({
        day: '2026-11-01',
        keyId: KEY_A,
        userId: USER,
        promptTokens: 100,
        completionTokens: 10,
        costUsd: '0.0001000000',
      }),
      ledgerRow({
        day: '2026-11-01',
        keyId: KEY_A,
        promptTokens: 50,
        completionTokens: 5,
        costUsd: '0.0000500001',
        status: 500,
      }),
      ledgerRow({
        day: '2026-11-02',
        keyId: KEY_B,
        endpoint: 'embeddings',
        alias: 'emb',
        targetModel: 'embed-1',
        promptTokens: 1000,
        completionTokens: 0,
        costUsd: null,
      }),
      ledgerRow({
        day: '2026-11-30',
        keyId: KEY_B,
        alias: 'smart',
        targetModel: 'gpt-y',
        promptTokens: 7,
        completionTokens: 3,
        costUsd: '1.2345674999',
        cacheHit: true,
      }),
      // December: outside the November period and range.
      ledgerRow({ day: '2026-12-01', keyId: KEY_A, promptTokens: 9999, costUsd: '5.0000000000' }),
    ]);
    await rollUpTenant(t.db, tenant.id);
    return tenant;
  }

  it('GET /v1/analytics/kpis groups the rollups by day, key, user, model and feature', async () => {
    const tenant = await tenantWithTraffic();
    const range = 'from=2026-11-01&to=2026-12-01';
    const byDay = await kpis(tenant.ownerKey, `${range}&groupBy=day`);
    expect(byDay.status, JSON.stringify(byDay.body)).toBe(200);
    expect(byDay.body.rolled_up_at).not.toBeNull();
    expect(byDay.body.data.map((d) => [d.day, d.requests, d.errors, d.prompt_tokens])).toEqual([
      ['2026-11-01', 2, 1, 150],
      ['2026-11-02', 1, 0, 1000],
      ['2026-11-30', 1, 0, 7],
    ]);
    expect(byDay.body.totals).toEqual({
      requests: 4,
      errors: 1,
      cache_hits: 1,
      prompt_tokens: 1157,
      completion_tokens: 18,
      cached_tokens: 0,
      cost_usd: '1.2347175000',
      cost_micro_usd: 1_234_718,
      unpriced_requests: 1,
    });
    const byKey = await kpis(tenant.ownerKey, `${range}&groupBy=key`);
    const keyRows = Object.fromEntries(byKey.body.data.map((d) => [d.key_id, d]));
    expect(keyRows[KEY_A]).toMatchObject({
      requests: 2,
      cost_usd: '0.0001500001',
      cost_micro_usd: 150,
    });
    expect(keyRows[KEY_B]).toMatchObject({ requests: 2, unpriced_requests: 1 });
    const byUser = await kpis(tenant.ownerKey, `${range}&groupBy=user`);
    // NULL (rows without a user) sorts last.
    expect(byUser.body.data.map((d) => [d.user_id, d.requests])).toEqual([
      [USER, 1],
      [null, 3],
    ]);
    const byModel = await kpis(tenant.ownerKey, `${range}&groupBy=model`);
    expect(byModel.body.data.map((d) => [d.alias, d.provider, d.target_model, d.requests])).toEqual(
      [
        ['emb', 'main', 'embed-1', 1],
        ['fast', 'main', 'gpt-x', 2],
        ['smart', 'main', 'gpt-y', 1],
      ],
    );
    const byFeature = await kpis(tenant.ownerKey, `${range}&groupBy=feature`);
    expect(byFeature.body.data.map((d) => [d.feature, d.requests])).toEqual([
      ['chat', 3],
      ['embeddings', 1],
    ]);
    // The operator's view of the same tenant: the same answer.
    const op = await app.app.inject({
      method: 'GET',
      url: `/admin/v1/tenants/${tenant.id}/analytics/kpis?${range}&groupBy=day`,
      headers: bearer(ROOT_TOKEN),
    });
    expect(op.statusCode, op.body).toBe(200);
    expect((op.json() as Kpis).data).toEqual(byDay.body.data);
    const notOperator = await app.app.inject({
      method: 'GET',
      url: `/admin/v1/tenants/${tenant.id}/analytics/kpis?${range}`,
      headers: bearer(tenant.ownerKey),
    });
    expect(notOperator.statusCode).toBe(401);
    // December is its own range.
    const dec = await kpis(tenant.ownerKey, 'from=2026-12-01&to=2026-12-02');
    expect(dec.body.totals.prompt_tokens).toBe(9999);
  });

  it("KPIs are the caller tenant's only, need usage:read, and refuse a bad range", async () => {
    const a = await tenantWithTraffic();
    const b = await app.createTenant();
    const range = 'from=2026-11-01&to=2026-12-01';
    const other = await kpis(b.ownerKey, range);
    expect(other.status).toBe(200);
    expect(other.body.data).toEqual([]);
    expect(other.body.totals.requests).toBe(0);
    // RLS, not only the WHERE: B's transaction sees none of A's rollup rows at all.
    const seen = await t.db.withTenant({ tenantId: b.id, groups: [] }, (tx) =>
      tx.query(`SELECT 1 FROM usage_rollups WHERE tenant_id = $1`, [a.id]),
    );
    expect(seen.rows).toEqual([]);
    const noAuth = await app.app.inject({ method: 'GET', url: `/v1/analytics/kpis?${range}` });
    expect(noAuth.statusCode).toBe(401);
    const backwards = await kpis(a.ownerKey, 'from=2026-11-05&to=2026-11-01');
    expect(backwards.status).toBe(400);
    const badGroup = await kpis(a.ownerKey, `${range}&groupBy=tenant`);
    expect(badGroup.status).toBe(400);
    const notADay = await kpis(a.ownerKey, 'from=2026-11-01T00:00:00Z&to=2026-12-01');
    expect(notADay.status).toBe(400);
  });

  it("export --format stripe: meter events in Stripe's shape, the same identifiers and bytes every time, recorded", async () => {
    const tenant = await tenantWithTraffic();
    const out: string[] = [];
    const file = join(dir, `stripe-${tenant.slug}.jsonl`);
    const opts = { period: '2026-11', tenant: tenant.slug, format: 'stripe', out: file };
    // No customer mapped yet: refused, nothing written.
    expect(await exportSettled(out, opts)).toBe(2);
    expect(out.join('\n')).toContain('has no Stripe customer');
    expect(await setCustomer(io(out), { tenant: tenant.slug, stripeCustomer: 'cus_Test123' })).toBe(
      0,
    );
    expect(await exportSettled(out, opts)).toBe(0);
    const first = readFileSync(file, 'utf8');
    const events = first
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const lastSecond = Date.UTC(2026, 11, 1) / 1000 - 1;
    expect(events).toEqual([
      {
        event_name: 'rampart_requests',
        identifier: `rampart-${tenant.id}-2026-11-rampart_requests`,
        timestamp: lastSecond,
        payload: { stripe_customer_id: 'cus_Test123', value: '4' },
      },
      {
        event_name: 'rampart_prompt_tokens',
        identifier: `rampart-${tenant.id}-2026-11-rampart_prompt_tokens`,
        timestamp: lastSecond,
        payload: { stripe_customer_id: 'cus_Test123', value: '1157' },
      },
      {
        event_name: 'rampart_completion_tokens',
        identifier: `rampart-${tenant.id}-2026-11-rampart_completion_tokens`,
        timestamp: lastSecond,
        payload: { stripe_customer_id: 'cus_Test123', value: '18' },
      },
      {
        event_name: 'rampart_cost_micro_usd',
        identifier: `rampart-${tenant.id}-2026-11-rampart_cost_micro_usd`,
        timestamp: lastSecond,
        payload: { stripe_customer_id: 'cus_Test123', value: '1234718' },
      },
    ]);
    for (const e of events) expect(String(e.identifier).length).toBeLessThanOrEqual(100);
    // Again: byte for byte the same file, and a second record with the same digest.
    expect(await exportSettled(out, opts)).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(first);
    const records = await t.db.withTenant({ tenantId: tenant.id, groups: [] }, (tx) =>
      tx.query<{ format: string; events: number; digest: string }>(
        `SELECT format, events, digest FROM billing_exports WHERE tenant_id = $1 ORDER BY created_at`,
        [tenant.id],
      ),
    );
    expect(records.rows).toHaveLength(2);
    expect(records.rows[0]).toEqual(records.rows[1]);
    expect(records.rows[0]).toMatchObject({ format: 'stripe', events: 4 });
    // A late November row: the export still writes the same identifiers, with the new values,
    // and says the period changed since it was first exported (exit 1).
    await writeLedger(t.db, tenant.id, [ledgerRow({ day: '2026-11-15', promptTokens: 1 })]);
    out.length = 0;
    expect(await exportSettled(out, opts)).toBe(1);
    expect(out.join('\n')).toContain('the values differ from the export of');
    const again = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { identifier: string; payload: { value: string } });
    expect(again.map((e) => e.identifier)).toEqual(events.map((e) => e.identifier));
    expect(again[0]?.payload.value).toBe('5');
  });

  it('export --format csv: deterministic rows per feature and model, with a header', async () => {
    const tenant = await tenantWithTraffic();
    const file = join(dir, `csv-${tenant.slug}.csv`);
    const opts = { period: '2026-11', tenant: tenant.slug, format: 'csv', out: file };
    expect(await exportSettled([], opts)).toBe(0);
    const first = readFileSync(file, 'utf8');
    expect(await exportSettled([], opts)).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(first);
    const [header, ...rows] = first.trim().split('\n');
    expect(header).toBe(
      'identifier,tenant_id,tenant_slug,period,feature,alias,provider,target_model,requests,errors,prompt_tokens,completion_tokens,cached_tokens,cost_usd,cost_micro_usd',
    );
    expect(rows.map((r) => r.split(',').slice(1, 15))).toEqual([
      [
        tenant.id,
        tenant.slug,
        '2026-11',
        'chat',
        'fast',
        'main',
        'gpt-x',
        '2',
        '1',
        '150',
        '15',
        '0',
        '0.0001500001',
        '150',
      ],
      [
        tenant.id,
        tenant.slug,
        '2026-11',
        'chat',
        'smart',
        'main',
        'gpt-y',
        '1',
        '0',
        '7',
        '3',
        '0',
        '1.2345674999',
        '1234567',
      ],
      [
        tenant.id,
        tenant.slug,
        '2026-11',
        'embeddings',
        'emb',
        'main',
        'embed-1',
        '1',
        '0',
        '1000',
        '0',
        '0',
        '0.0000000000',
        '0',
      ],
    ]);
    const ids = rows.map((r) => r.split(',')[0]);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^rampart-[0-9a-f]{32}$/);
  });

  it('export refuses a period not over yet, a bad period or format, and an unknown tenant (exit 2)', async () => {
    const tenant = await tenantWithTraffic();
    const out = join(dir, 'never.jsonl');
    const base = { tenant: tenant.slug, format: 'csv', out };
    expect(await exportSettled([], { ...base, period: '2026-12' })).toBe(2);
    expect(await exportSettled([], { ...base, period: '2026-13' })).toBe(2);
    expect(await exportSettled([], { ...base, period: '2026-11', format: 'xml' })).toBe(2);
    expect(await exportSettled([], { ...base, period: '2026-11', tenant: 'nobody-here' })).toBe(2);
    expect(() => readFileSync(out)).toThrow();
  });
});
