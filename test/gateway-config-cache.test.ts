import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey } from '../src/identity/key-secret.js';
import { bearer, createTestApp, SERVER_SECRET, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

const MASTER_KEY = Buffer.alloc(32, 42).toString('base64');
const ASK = [{ role: 'user', content: 'hello' }];

type Tenant = { id: string; ownerKey: string };

async function call(app: TestApp, key: string, method: string, url: string, payload?: unknown) {
  const res = await app.app.inject({
    method: method as 'GET',
    url,
    headers: bearer(key),
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
  return res;
}

/** The upstream model a chat call for `alias` reached, or the error status. */
async function servedModel(app: TestApp, key: string, alias: string): Promise<string | number> {
  const res = await call(app, key, 'POST', '/v1/chat/completions', { model: alias, messages: ASK });
  return res.statusCode === 200 ? String((res.json() as { model: string }).model) : res.statusCode;
}

/** Polls until `fn` returns `want` (NOTIFY is asynchronous); returns the last value seen. */
async function eventually<T>(fn: () => Promise<T>, want: T, tries = 100): Promise<T> {
  let got = await fn();
  for (let i = 0; i < tries && got !== want; i++) {
    await new Promise((r) => setTimeout(r, 50));
    got = await fn();
  }
  return got;
}

describe.each(testDrivers())('gateway config cache (%s)', (driver) => {
  let t: TestDatabase;
  let fake: FakeUpstream;
  let one: TestApp;
  let two: TestApp;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    fake = await startFakeOpenAI();
    one = await createTestApp(t.db, { RAMPART_MASTER_KEY: MASTER_KEY });
    // The second instance has its own pool on Postgres; PGlite is one connection per process.
    const replica = driver === 'postgres' ? await t.openReplica() : t.db;
    two = await createTestApp(replica, { RAMPART_MASTER_KEY: MASTER_KEY });
    await one.gateway.tenantConfig.ready();
    await two.gateway.tenantConfig.ready();
  });
  afterAll(async () => {
    await two?.close();
    await one?.close();
    await fake?.close();
    await t?.close();
  });

  async function setup(): Promise<Tenant> {
    const tenant = await one.createTenant();
    const p = await call(one, tenant.ownerKey, 'POST', '/v1/providers', {
      name: 'main',
      type: 'openai',
      baseUrl: fake.baseUrl,
      apiKey: 'sk-fake',
    });
    expect(p.statusCode, p.body).toBe(201);
    const r = await call(one, tenant.ownerKey, 'PUT', '/v1/routes/fast', {
      targets: [{ provider: 'main', model: 'model-a', weight: 1 }],
    });
    expect(r.statusCode, r.body).toBeLessThan(300);
    return tenant;
  }

  it('a route change is served at once by the instance that made it, and soon by another', async () => {
    const { ownerKey: key } = await setup();
    // Both instances now hold the tenant's snapshot.
    expect(await servedModel(one, key, 'fast')).toBe('model-a');
    expect(await servedModel(two, key, 'fast')).toBe('model-a');
    const put = await call(one, key, 'PUT', '/v1/routes/fast', {
      targets: [{ provider: 'main', model: 'model-b', weight: 1 }],
    });
    expect(put.statusCode, put.body).toBe(200);
    // No waiting on the instance that wrote: its cache was evicted before the response.
    expect(await servedModel(one, key, 'fast')).toBe('model-b');
    expect(await eventually(() => servedModel(two, key, 'fast'), 'model-b')).toBe('model-b');
  });

  it('a deleted route or provider is not served from cache', async () => {
    const tenant = await setup();
    const key = tenant.ownerKey;
    expect(await servedModel(one, key, 'fast')).toBe('model-a');
    expect(await servedModel(two, key, 'fast')).toBe('model-a');
    expect((await call(one, key, 'DELETE', '/v1/routes/fast')).statusCode).toBe(204);
    expect(await servedModel(one, key, 'fast')).toBe(404);
    expect(await eventually(() => servedModel(two, key, 'fast'), 404)).toBe(404);

    // A provider is deleted once no route names it; its cached credential goes with it.
    const created = await call(one, key, 'PUT', '/v1/routes/fast', {
      targets: [{ provider: 'main', model: 'model-c', weight: 1 }],
    });
    expect(created.statusCode, created.body).toBeLessThan(300);
    expect(await eventually(() => servedModel(two, key, 'fast'), 'model-c')).toBe('model-c');
    const list = (await call(one, key, 'GET', '/v1/providers')).json() as {
      data: { id: string }[];
    };
    await call(one, key, 'DELETE', '/v1/routes/fast');
    const del = await call(one, key, 'DELETE', `/v1/providers/${list.data[0]?.id ?? ''}`);
    expect(del.statusCode, del.body).toBe(204);
    // The alias again, straight in the database (the API refuses a route to a missing
    // provider): both instances had the provider cached, and neither may still call it.
    await t.asOwner((q) =>
      q.query(
        `INSERT INTO model_routes (tenant_id, alias, targets)
         VALUES ($1, 'fast', '[{"provider":"main","model":"model-d","weight":1}]')`,
        [tenant.id],
      ),
    );
    expect(await eventually(() => servedModel(one, key, 'fast'), 404)).toBe(404);
    expect(await eventually(() => servedModel(two, key, 'fast'), 404)).toBe(404);
  });

  it('concurrent misses for a tenant share one load, and an eviction is not undone by it', async () => {
    const tenant = await setup();
    const ctx = { tenantId: tenant.id, groups: [] };
    const cache = one.gateway.tenantConfig;
    // Let the notifications of setup()'s own writes arrive first (they evict too): the snapshot
    // must stay the same object for 300 ms (under CI load a NOTIFY can arrive late, and one
    // arriving after this point would evict the snapshots the assertions below compare).
    const stable = async () => {
      const before = await cache.get(ctx);
      await new Promise((r) => setTimeout(r, 300));
      return before === (await cache.get(ctx));
    };
    expect(await eventually(stable, true)).toBe(true);
    cache.evict(tenant.id);
    const loads = await Promise.all(Array.from({ length: 20 }, () => cache.get(ctx)));
    expect(new Set(loads).size).toBe(1);
    expect(loads[0]?.route('fast')?.targets[0]?.model).toBe('model-a');
    expect(await cache.get(ctx)).toBe(loads[0]); // kept: a hit
    // A load overtaken by an eviction serves its waiters but is not kept.
    cache.evict(tenant.id);
    const stale = cache.get(ctx);
    cache.evict(tenant.id);
    const fresh = await cache.get(ctx);
    expect(fresh).not.toBe(await stale);
    expect(await cache.get(ctx)).toBe(fresh);
  });

  it('a change made outside the API (a trigger NOTIFY) reaches every instance', async () => {
    const tenant = await setup();
    const key = tenant.ownerKey;
    expect(await servedModel(one, key, 'fast')).toBe('model-a');
    expect(await servedModel(two, key, 'fast')).toBe('model-a');
    await t.asOwner((q) =>
      q.query(
        `UPDATE model_routes SET targets = '[{"provider":"main","model":"model-sql","weight":1}]'
          WHERE tenant_id = $1 AND alias = 'fast'`,
        [tenant.id],
      ),
    );
    expect(await eventually(() => servedModel(one, key, 'fast'), 'model-sql')).toBe('model-sql');
    expect(await eventually(() => servedModel(two, key, 'fast'), 'model-sql')).toBe('model-sql');
    // /v1/models reads the same snapshot.
    await t.asOwner((q) =>
      q.query(
        `INSERT INTO model_routes (tenant_id, alias, targets)
         VALUES ($1, 'extra', '[{"provider":"main","model":"m","weight":1}]')`,
        [tenant.id],
      ),
    );
    const ids = async () =>
      ((await call(two, key, 'GET', '/v1/models')).json() as { data: { id: string }[] }).data
        .map((m) => m.id)
        .join(',');
    expect(await eventually(ids, 'extra,fast')).toBe('extra,fast');
  });

  it('a key newer than the cached snapshot is never served without its limits, even with no NOTIFY', async () => {
    const tenant = await setup();
    // Both instances hold the tenant's snapshot from before the key exists.
    expect(await servedModel(one, tenant.ownerKey, 'fast')).toBe('model-a');
    expect(await servedModel(two, tenant.ownerKey, 'fast')).toBe('model-a');
    // The key and its allow-list written with triggers off: no notification reaches anyone, as
    // when a key made on one replica is used on another before the NOTIFY arrives.
    const { secret, prefix } = generateApiKey();
    await t.asOwner(async (q) => {
      await q.query('BEGIN');
      await q.query(`SET LOCAL session_replication_role = replica`);
      const { rows } = await q.query<{ id: string }>(
        `INSERT INTO api_keys (tenant_id, name, prefix, secret_hash, role, created_by)
         VALUES ($1, 'late key', $2, $3, 'member', 'test') RETURNING id`,
        [tenant.id, prefix, hashApiKey(SERVER_SECRET, secret)],
      );
      await q.query(
        `INSERT INTO key_limits (tenant_id, key_id, models, limits) VALUES ($1, $2, $3, '{}')`,
        [tenant.id, rows[0]?.id, ['other-alias']],
      );
      await q.query('COMMIT');
      // Only the key's own announcement (the auth layer's prefix set, a separate channel) is sent:
      // without it a replica refuses an unknown prefix outright, before any limits are read.
      await q.query(`SELECT pg_notify('rampart_api_keys', 'issued:' || $1)`, [prefix]);
    });
    for (const app of [one, two]) {
      expect(
        await eventually(async () => (await call(app, secret, 'GET', '/v1/me')).statusCode, 200),
      ).toBe(200);
      const res = await call(app, secret, 'POST', '/v1/chat/completions', {
        model: 'fast',
        messages: ASK,
      });
      expect(res.statusCode, res.body).toBe(403);
      expect((res.json() as { error: { code: string } }).error.code).toBe('model_not_allowed');
    }
  });
});
