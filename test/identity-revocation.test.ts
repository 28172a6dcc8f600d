import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiKeyPrefix } from '../src/identity/key-secret.js';
import { apiClient, eventually } from './helpers/identity-api.js';

// A cache TTL far beyond the 5 s bound: only the revocation notification can explain a 401.
const LONG_CACHE = { API_KEY_CACHE_TTL_MS: '60000' };

describe.each(testDrivers())('identity: revocation reaches cached keys (%s)', (driver) => {
  let t: TestDatabase;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    a = await createTestApp(t.db, LONG_CACHE);
    // On PostgreSQL, instance B is another pool on the same database, as another replica would be.
    b = driver === 'postgres' ? await createTestApp(await t.openReplica(), LONG_CACHE) : a;
  });
  afterAll(async () => {
    if (b !== a) await b?.close();
    await a?.close();
    await t?.close();
  });

  async function cachedKeyOn(app: TestApp): Promise<{ id: string; secret: string; owner: string }> {
    const tenant = await a.createTenant();
    const r = await apiClient(a)('POST', '/v1/api-keys', tenant.ownerKey, {
      name: 'r',
      role: 'member',
    });
    expect(r.status).toBe(201);
    const key = r.body as { id: string; secret: string };
    // The key's announcement reaches another instance's prefix set asynchronously (creation
    // waits up to 2 s for it on its own instance); on a loaded machine it can take longer.
    expect(
      await eventually(async () => app.auth.prefixes.mayExist(apiKeyPrefix(key.secret)), 10_000),
    ).toBe(true);
    const before = app.auth.cache.size;
    expect((await apiClient(app)('GET', '/v1/me', key.secret)).status).toBe(200);
    expect(app.auth.cache.size, 'the verification is cached').toBe(before + 1);
    expect((await apiClient(app)('GET', '/v1/me', key.secret)).status).toBe(200);
    return { ...key, owner: tenant.ownerKey };
  }

  it.runIf(driver === 'postgres')(
    'a revocation on instance A reaches instance B within 5 s',
    async () => {
      const key = await cachedKeyOn(b);
      const del = await apiClient(a)('DELETE', `/v1/api-keys/${key.id}`, key.owner);
      expect(del.status).toBe(204);
      const rejected = await eventually(
        async () => (await apiClient(b)('GET', '/v1/me', key.secret)).status === 401,
        5000,
      );
      expect(rejected, 'instance B refuses the revoked key within 5 s').toBe(true);
    },
  );

  it.runIf(driver === 'postgres')(
    'a role change on instance A reaches instance B within 5 s',
    async () => {
      const key = await cachedKeyOn(b);
      const patch = await apiClient(a)('PATCH', `/v1/api-keys/${key.id}`, key.owner, {
        role: 'viewer',
      });
      expect(patch.status).toBe(200);
      const lowered = await eventually(async () => {
        const me = await apiClient(b)('GET', '/v1/me', key.secret);
        return (me.body as { principal: { role: string } }).principal.role === 'viewer';
      }, 5000);
      expect(lowered).toBe(true);
    },
  );

  it.runIf(driver === 'pglite')('a revocation ends a cached key at once', async () => {
    const key = await cachedKeyOn(a);
    expect((await apiClient(a)('DELETE', `/v1/api-keys/${key.id}`, key.owner)).status).toBe(204);
    expect((await apiClient(a)('GET', '/v1/me', key.secret)).status).toBe(401);
  });
});
