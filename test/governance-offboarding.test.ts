import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_TENANT_ID, verifyChain } from '../src/audit/service.js';
import { TENANT_PURGE_JOB } from '../src/governance/index.js';
import { JobQueue, enqueueJob, type Job } from '../src/platform/queue/queue.js';
import { listenWs, openRealtime } from './helpers/realtime.js';
import { SERVER_SECRET, createTestApp, type TestApp } from './helpers/app.js';
import {
  TEST_REDIS_URL,
  createTestDatabase,
  testDrivers,
  type TestDatabase,
} from './helpers/db.js';
import { apiClient } from './helpers/identity-api.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 42).toString('base64');

/** Every table with a tenant_id column, from the catalogue, with the rows it holds for a tenant. */
async function rowsByTable(t: TestDatabase, tenantId: string): Promise<Record<string, number>> {
  return t.asOwner(async (q) => {
    const { rows } = await q.query<{ table_name: string }>(
      `SELECT c.table_name FROM information_schema.columns c
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'
        ORDER BY 1`,
    );
    const out: Record<string, number> = {};
    for (const { table_name } of rows) {
      const r = await q.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${table_name}" WHERE tenant_id = $1`,
        [tenantId],
      );
      out[table_name] = Number(r.rows[0]?.n);
    }
    return out;
  });
}

describe.each(testDrivers())('governance: tenant offboarding (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: FakeUpstream;
  let queue: JobQueue;
  let call: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
    // Redis on the PostgreSQL run (CI sets TEST_REDIS_URL), so the purge of Redis keys is exercised.
    app = await createTestApp(
      t.db,
      { RAMPART_MASTER_KEY: MASTER_KEY, RATE_LIMIT_REDIS_TIMEOUT_MS: '2000' },
      { redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined },
    );
    call = apiClient(app);
    queue = new JobQueue(t.db, {
      pollIntervalMs: 1000,
      concurrency: 1,
      leaseMs: 30_000,
      retryBaseMs: 10,
      retryMaxMs: 10,
    });
    for (const [kind, handler] of Object.entries(app.governance.jobs))
      queue.register(kind, handler);
  });
  afterAll(async () => {
    await app?.close();
    await fake?.close();
    await t?.close();
  });

  const admin = (method: 'DELETE' | 'POST' | 'GET', url: string) =>
    call(method, url, 'test-root-token-0123456789abcdef');

  it('disabling is immediate for every key, cached ones included; other tenants are untouched', async () => {
    const a = await app.createTenant();
    const b = await app.createTenant();
    const member = await call('POST', '/v1/api-keys', a.ownerKey, { name: 'm', role: 'member' });
    const memberKey = (member.body as { secret: string }).secret;
    // Both keys verified (and cached) before the disable.
    expect((await call('GET', '/v1/me', a.ownerKey)).status).toBe(200);
    expect((await call('GET', '/v1/me', memberKey)).status).toBe(200);
    const off = await admin('DELETE', `/admin/v1/tenants/${a.id}`);
    expect(off.status, off.text).toBe(202);
    expect(off.body).toMatchObject({ tenantId: a.id, status: 'disabled' });
    for (const key of [a.ownerKey, memberKey]) {
      const r = await call('GET', '/v1/me', key);
      expect(r.status).toBe(401);
      expect(r.text).toContain('disabled');
    }
    expect((await call('GET', '/v1/me', b.ownerKey)).status).toBe(200);
    // Another instance (a replica with its own cache) hears of it by NOTIFY.
    if (driver === 'postgres') {
      const replica = await createTestApp(await t.openReplica());
      try {
        const deadline = Date.now() + 10_000;
        while (!replica.auth.disabledTenants.has(a.id) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 25));
        const r = await replica.app.inject({
          method: 'GET',
          url: '/v1/me',
          headers: { authorization: `Bearer ${a.ownerKey}` },
        });
        expect(r.statusCode).toBe(401);
      } finally {
        await replica.close();
      }
    }
  });

  it("a disabled tenant's open WebSocket is closed and its queued jobs wait until a restore", async () => {
    const a = await app.createTenant();
    const b = await app.createTenant();
    const base = await listenWs(app);
    const socket = await openRealtime(base, a.ownerKey);
    const other = await openRealtime(base, b.ownerKey);
    const ran: string[] = [];
    const probe = new JobQueue(t.db, {
      pollIntervalMs: 1000,
      concurrency: 1,
      leaseMs: 30_000,
      retryBaseMs: 10,
      retryMaxMs: 10,
    }).register('test.offboarding_probe', {
      run: async (job: Job) => {
        ran.push(job.tenantId);
      },
    });
    for (const tenant of [a, b])
      await t.db.withTenant({ tenantId: tenant.id, groups: [] }, (tx) =>
        enqueueJob(tx, { kind: 'test.offboarding_probe', payload: {} }),
      );
    expect((await admin('DELETE', `/admin/v1/tenants/${a.id}`)).status).toBe(202);
    expect(await socket.closed).toEqual({ code: 1008, reason: 'the tenant was disabled' });
    await probe.drain();
    expect(ran).toEqual([b.id]);
    expect(other.ws.readyState).toBe(other.ws.OPEN);
    other.close();
    // Restored within the grace period, its waiting job runs.
    expect((await admin('POST', `/admin/v1/tenants/${a.id}/restore`)).status).toBe(200);
    await probe.drain();
    expect(ran).toEqual([b.id, a.id]);
  });

  it('restore within the grace period brings every key back; refusals are explicit', async () => {
    const a = await app.createTenant();
    expect((await admin('DELETE', `/admin/v1/tenants/${a.id}`)).status).toBe(202);
    expect((await call('GET', '/v1/me', a.ownerKey)).status).toBe(401);
    const restored = await admin('POST', `/admin/v1/tenants/${a.id}/restore`);
    expect(restored.status, restored.text).toBe(200);
    expect((await call('GET', '/v1/me', a.ownerKey)).status).toBe(200);
    const again = await admin('POST', `/admin/v1/tenants/${a.id}/restore`);
    expect(again.status).toBe(409);
    expect(again.text).toContain('not_disabled');
    expect(
      (await admin('DELETE', '/admin/v1/tenants/00000000-0000-4000-8000-000000000001')).status,
    ).toBe(404);
    expect((await admin('DELETE', `/admin/v1/tenants/${SYSTEM_TENANT_ID}`)).status).toBe(403);
    // A tenant may not offboard itself: the route is the operator's.
    expect((await call('DELETE', `/admin/v1/tenants/${a.id}`, a.ownerKey)).status).toBe(401);
    const events = await call('GET', '/v1/audit-events', a.ownerKey);
    const actions = (events.body as { data: { action: string }[] }).data.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['tenant.disabled', 'tenant.restored']));
  });

  /** A tenant with rows in many tables: gateway config, usage, budgets, cache, documents, governance. */
  async function busyTenant(withRetention: boolean) {
    const tenant = await app.createTenant();
    const send = async (method: 'POST' | 'PUT', url: string, payload: object) => {
      const r = await call(method, url, tenant.ownerKey, payload);
      expect(r.status, r.text).toBeLessThan(300);
    };
    await send('POST', '/v1/providers', {
      name: 'main',
      type: 'openai',
      baseUrl: fake.baseUrl,
      apiKey: 'sk-fake',
    });
    await send('POST', '/v1/routes', {
      alias: 'fast',
      targets: [{ provider: 'main', model: 'priced-model', weight: 1 }],
      cache: { ttlSeconds: 600 },
    });
    await send('PUT', '/v1/prices/priced-model', { input: 0, output: 1, cachedInput: 0 });
    await send('PUT', '/v1/limits', { rpm: 100, budgetUsd: 5, budgetPeriod: 'month' });
    const chat = await call('POST', '/v1/chat/completions', tenant.ownerKey, {
      model: 'fast',
      max_tokens: 4,
      messages: [{ role: 'user', content: `hello ${tenant.id}` }],
    });
    expect(chat.status, chat.text).toBe(200);
    await send('POST', '/v1/documents', { title: 'Doc', text: 'some text to keep', tags: ['x'] });
    // (A retention policy makes the scheduler open a sweep: only A gets one, so B stays as it was.)
    if (withRetention) await send('PUT', '/v1/governance/retention', { usage: { days: 30 } });
    await send('PUT', '/v1/governance/holds', { scope: 'tenant', reason: 'audit' });
    await send('POST', '/v1/groups', { name: 'legal' });
    await app.gateway.usage.flush();
    await app.gateway.limits.flush();
    return tenant;
  }

  it('after the grace period the purge leaves no row in any tenant table and no Redis key; other tenants are untouched', async () => {
    const a = await busyTenant(true);
    const b = await busyTenant(false);
    // A person of A only, and one of both A and B.
    const [onlyA, both] = await t.asOwner(async (q) => {
      const ids: string[] = [];
      for (const email of [`only-${a.id}@example.com`, `both-${a.id}@example.com`]) {
        const { rows } = await q.query<{ id: string }>(
          'INSERT INTO users (email) VALUES ($1) RETURNING id',
          [email],
        );
        ids.push(rows[0]?.id ?? '');
      }
      for (const [tenant, user] of [
        [a.id, ids[0]],
        [a.id, ids[1]],
        [b.id, ids[1]],
      ])
        await q.query(
          `INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'member')`,
          [tenant, user],
        );
      return ids;
    });
    const before = await rowsByTable(t, a.id);
    const populated = Object.entries(before)
      .filter(([, n]) => n > 0)
      .map(([k]) => k);
    expect(populated).toEqual(
      expect.arrayContaining([
        'api_keys',
        'audit_events',
        'documents',
        'memberships',
        'providers',
        'usage_events',
        'legal_holds',
        'retention_policies',
        'groups',
      ]),
    );
    const bBefore = await rowsByTable(t, b.id);
    const redisKeys = async (tenantId: string): Promise<string[]> => {
      const redis = app.redis;
      if (!redis) return [];
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `*${tenantId}*`, 'COUNT', 1000);
        cursor = next;
        found.push(...keys);
      } while (cursor !== '0');
      return found;
    };
    if (app.redis) {
      expect((await redisKeys(a.id)).length).toBeGreaterThan(0);
      expect((await redisKeys(b.id)).length).toBeGreaterThan(0);
    }
    const bKeys = (await redisKeys(b.id)).sort();

    expect((await admin('DELETE', `/admin/v1/tenants/${a.id}`)).status).toBe(202);
    // Not due yet: the scheduler enqueues no purge within the grace period.
    expect((await app.governance.scheduler.tick()).filter((e) => e.tenantId === a.id)).toEqual([]);
    // The grace period elapses.
    await t.asOwner((q) =>
      q.query(
        `UPDATE tenant_offboardings SET purge_after = now() - interval '1 second' WHERE tenant_ref = $1`,
        [a.id],
      ),
    );
    const enqueued = await app.governance.scheduler.tick();
    expect(enqueued.filter((e) => e.tenantId === a.id)).toEqual([
      { kind: TENANT_PURGE_JOB, tenantId: a.id },
    ]);
    const outcomes = await queue.drain();
    expect(outcomes.filter((o) => o.job.kind === TENANT_PURGE_JOB).map((o) => o.state)).toEqual([
      'completed',
    ]);

    // From the catalogue: no table holds a row of A; B has exactly what it had.
    const after = await rowsByTable(t, a.id);
    expect(Object.entries(after).filter(([, n]) => n > 0)).toEqual([]);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    expect(await rowsByTable(t, b.id)).toEqual(bBefore);
    const left = await t.asOwner(async (q) => ({
      tenant: (await q.query('SELECT 1 FROM tenants WHERE id = $1', [a.id])).rows.length,
      onlyA: (await q.query('SELECT 1 FROM users WHERE id = $1', [onlyA])).rows.length,
      both: (await q.query('SELECT 1 FROM users WHERE id = $1', [both])).rows.length,
    }));
    expect(left).toEqual({ tenant: 0, onlyA: 0, both: 1 });
    expect(await redisKeys(a.id)).toEqual([]);
    expect((await redisKeys(b.id)).sort()).toEqual(bKeys);

    const status = await admin('GET', `/admin/v1/tenants/${a.id}/offboarding`);
    expect(status.body).toMatchObject({ status: 'purged', tenantId: a.id });
    const deleted = (status.body as { deleted: Record<string, number> }).deleted;
    expect(deleted.usage_events).toBeGreaterThan(0);
    expect((await admin('POST', `/admin/v1/tenants/${a.id}/restore`)).status).toBe(409);
    expect((await call('GET', '/v1/me', a.ownerKey)).status).toBe(401);
    // The purge is recorded in the _system chain; B's chain and the _system chain verify.
    const { rows } = await t.asOwner((q) =>
      q.query<{ n: string }>(
        `SELECT count(*) AS n FROM audit_events WHERE tenant_id = $1 AND action = 'tenant.purged' AND target_id = $2`,
        [SYSTEM_TENANT_ID, a.id],
      ),
    );
    expect(Number(rows[0]?.n)).toBe(1);
    expect(await verifyChain(t.db, b.id, undefined, { serverSecret: SERVER_SECRET })).toMatchObject(
      {
        ok: true,
      },
    );
    expect(
      await verifyChain(t.db, SYSTEM_TENANT_ID, undefined, { serverSecret: SERVER_SECRET }),
    ).toMatchObject({ ok: true });
    // Running the purge again is a no-op.
    expect(await app.governance.offboarding.purge(a.id)).toEqual(deleted);
  });
});
