import { createHash, createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_TENANT_ID } from '../src/audit/service.js';
import { ROLE_PERMISSIONS } from '../src/identity/permissions.js';
import {
  ROOT_TOKEN,
  SERVER_SECRET,
  createTestApp,
  uniqueSlug,
  type TestApp,
} from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient, auditOf } from './helpers/identity-api.js';

interface KeyBody {
  id: string;
  role: string;
  secret: string;
  prefix: string;
}

describe.each(testDrivers())('identity: admin API, API keys, authentication (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let call: ReturnType<typeof apiClient>;
  let tenant: { id: string; slug: string; ownerKey: string };

  const createKey = async (by: string, body: Record<string, unknown>): Promise<KeyBody> => {
    const r = await call('POST', '/v1/api-keys', by, body);
    expect(r.status, r.text).toBe(201);
    return r.body as KeyBody;
  };

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, { API_KEY_CACHE_TTL_MS: '60000' });
    call = apiClient(app);
    tenant = await app.createTenant();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  describe('admin API', () => {
    it('creates a tenant with an owner key shown once, audited in its chain', async () => {
      const slug = uniqueSlug('adm');
      const r = await call('POST', '/admin/v1/tenants', ROOT_TOKEN, { slug, name: 'Acme' });
      expect(r.status).toBe(201);
      const body = r.body as { tenant: { id: string; slug: string; name: string }; apiKey: string };
      expect(body.tenant).toEqual({ id: expect.any(String), slug, name: 'Acme' });
      expect(body.apiKey).toMatch(/^rmp_[A-Za-z0-9_-]{43}$/);
      const me = await call('GET', '/v1/me', body.apiKey);
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({
        tenant: { id: body.tenant.id, slug },
        principal: { role: 'owner' },
      });
      const events = await auditOf(t, body.tenant.id, r.requestId);
      expect(events.map((e) => [e.action, e.actor_type])).toEqual([
        ['tenant.created', 'operator'],
        ['api_key.created', 'operator'],
      ]);
    });

    it('refuses a duplicate slug with 409', async () => {
      const slug = uniqueSlug('dup');
      expect(
        (await call('POST', '/admin/v1/tenants', ROOT_TOKEN, { slug, name: 'A' })).status,
      ).toBe(201);
      const again = await call('POST', '/admin/v1/tenants', ROOT_TOKEN, { slug, name: 'B' });
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ code: 'tenant_exists' });
    });

    it('answers 401 to a missing or wrong root token, and to a tenant key', async () => {
      const payload = { slug: uniqueSlug('x'), name: 'X' };
      expect((await call('POST', '/admin/v1/tenants', undefined, payload)).status).toBe(401);
      expect((await call('POST', '/admin/v1/tenants', `${ROOT_TOKEN}x`, payload)).status).toBe(401);
      expect((await call('POST', '/admin/v1/tenants', tenant.ownerKey, payload)).status).toBe(401);
      const found = await t.asOwner((q) =>
        q.query('SELECT 1 FROM tenants WHERE slug = $1', [payload.slug]),
      );
      expect(found.rows).toEqual([]);
    });

    it('does not exist (404) when no root token is configured', async () => {
      const bare = await createTestApp(t.db, { RAMPART_ROOT_TOKEN: '' });
      try {
        const r = await bare.app.inject({
          method: 'POST',
          url: '/admin/v1/tenants',
          headers: { authorization: `Bearer ${ROOT_TOKEN}` },
          payload: { slug: uniqueSlug('off'), name: 'Off' },
        });
        expect(r.statusCode).toBe(404);
      } finally {
        await bare.close();
      }
    });
  });

  describe('API keys', () => {
    it('shows the secret once, never in listings, and stores only its HMAC', async () => {
      const key = await createKey(tenant.ownerKey, { name: 'ci', role: 'member' });
      expect(key.secret).toMatch(/^rmp_/);
      expect(key.secret.startsWith(key.prefix)).toBe(true);
      const one = await call('GET', `/v1/api-keys/${key.id}`, tenant.ownerKey);
      const list = await call('GET', '/v1/api-keys?limit=200', tenant.ownerKey);
      expect(one.status).toBe(200);
      expect(list.status).toBe(200);
      for (const r of [one, list]) {
        expect(r.text).not.toContain(key.secret);
        expect(r.text).not.toMatch(/secret|hash/i);
      }
      expect((list.body as { data: { id: string }[] }).data.map((k) => k.id)).toContain(key.id);

      const stored = await t.asOwner((q) =>
        q.query<{ secret_hash: Buffer; row: string }>(
          `SELECT secret_hash, row_to_json(k)::text AS row FROM api_keys k WHERE id = $1`,
          [key.id],
        ),
      );
      const row = stored.rows[0] as { secret_hash: Buffer; row: string };
      const hash = Buffer.from(row.secret_hash);
      expect(hash.equals(createHash('sha256').update(key.secret).digest())).toBe(false);
      expect(hash.equals(createHmac('sha256', SERVER_SECRET).update(key.secret).digest())).toBe(
        true,
      );
      expect(row.row).not.toContain(key.secret);
      expect(row.row).not.toContain(key.secret.slice(12));
    });

    it('shows a key with its models and limits on GET, POST and PATCH', async () => {
      const plain = await createKey(tenant.ownerKey, { name: 'plain', role: 'member' });
      expect(plain).toMatchObject({ models: null, limits: {} });
      const got = await call('GET', `/v1/api-keys/${plain.id}`, tenant.ownerKey);
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ id: plain.id, models: null, limits: {} });

      const limits = { rpm: 60, tpm: 100000, concurrency: 4, budgetUsd: 5, budgetPeriod: 'day' };
      const fenced = await createKey(tenant.ownerKey, {
        name: 'fenced',
        role: 'member',
        models: ['chat', 'embed'],
        limits,
      });
      expect(fenced).toMatchObject({ models: ['chat', 'embed'], limits });
      const one = await call('GET', `/v1/api-keys/${fenced.id}`, tenant.ownerKey);
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ id: fenced.id, models: ['chat', 'embed'], limits });
      // The list shows each key's policy too (the console's key table); a key without one: all, {}.
      const listed = await call('GET', '/v1/api-keys?limit=200', tenant.ownerKey);
      const rows = (listed.body as { data: { id: string; models: unknown; limits: unknown }[] })
        .data;
      expect(rows.find((k) => k.id === fenced.id)).toMatchObject({
        models: ['chat', 'embed'],
        limits,
      });
      expect(rows.find((k) => k.id !== fenced.id)).toMatchObject({ models: null, limits: {} });

      // PATCH replaces limits and lifts the allow-list; GET shows what is stored.
      const patched = await call('PATCH', `/v1/api-keys/${fenced.id}`, tenant.ownerKey, {
        models: null,
        limits: { rpm: 10 },
      });
      expect(patched.status, patched.text).toBe(200);
      expect(patched.body).toMatchObject({ models: null, limits: { rpm: 10 } });
      const again = await call('GET', `/v1/api-keys/${fenced.id}`, tenant.ownerKey);
      expect(again.body).toMatchObject({ models: null, limits: { rpm: 10 } });
      const renamed = await call('PATCH', `/v1/api-keys/${fenced.id}`, tenant.ownerKey, {
        name: 'renamed',
      });
      expect(renamed.body).toMatchObject({ name: 'renamed', models: null, limits: { rpm: 10 } });
    });

    it('never grants a role above the creator’s, and needs keys:manage', async () => {
      const admin = await createKey(tenant.ownerKey, { name: 'adm', role: 'admin' });
      const member = await createKey(tenant.ownerKey, { name: 'mem', role: 'member' });
      const owner2 = await createKey(tenant.ownerKey, { name: 'own', role: 'owner' });
      const up = await call('POST', '/v1/api-keys', admin.secret, { name: 'x', role: 'owner' });
      expect(up.status).toBe(403);
      expect(up.body).toMatchObject({ code: 'role_escalation' });
      expect(await auditOf(t, tenant.id, up.requestId)).toEqual([
        expect.objectContaining({
          action: 'auth.forbidden',
          outcome: 'denied',
          actor_id: admin.id,
          details: expect.objectContaining({ reason: 'role_escalation', role: 'admin' }),
        }),
      ]);
      expect(
        (await call('POST', '/v1/api-keys', admin.secret, { name: 'y', role: 'admin' })).status,
      ).toBe(201);
      const patchUp = await call('PATCH', `/v1/api-keys/${member.id}`, admin.secret, {
        role: 'owner',
      });
      expect(patchUp.status).toBe(403);
      expect(patchUp.body).toMatchObject({ code: 'role_escalation' });
      const touchOwner = await call('DELETE', `/v1/api-keys/${owner2.id}`, admin.secret);
      expect(touchOwner.status).toBe(403);
      expect(touchOwner.body).toMatchObject({ code: 'role_escalation' });
      expect((await call('GET', '/v1/me', owner2.secret)).status).toBe(200);
      const byMember = await call('POST', '/v1/api-keys', member.secret, {
        name: 'z',
        role: 'viewer',
      });
      expect(byMember.status).toBe(403);
      expect(byMember.body).toMatchObject({ code: 'permission_denied' });
    });

    it('audits a role change as api_key.role_changed, effective at once', async () => {
      const key = await createKey(tenant.ownerKey, { name: 'r', role: 'viewer' });
      expect((await call('GET', '/v1/me', key.secret)).body).toMatchObject({
        principal: { role: 'viewer' },
      });
      const r = await call('PATCH', `/v1/api-keys/${key.id}`, tenant.ownerKey, { role: 'member' });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ id: key.id, role: 'member' });
      const events = await auditOf(t, tenant.id, r.requestId);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        action: 'api_key.role_changed',
        target_id: key.id,
        details: { role: { from: 'viewer', to: 'member' } },
      });
      const me = await call('GET', '/v1/me', key.secret);
      expect(me.body).toMatchObject({ principal: { role: 'member' } });
    });

    it('/v1/me returns tenant, role, permissions and groups, and no secrets', async () => {
      for (const name of ['legal', 'hr'])
        expect((await call('POST', '/v1/groups', tenant.ownerKey, { name })).status).toBe(201);
      const key = await createKey(tenant.ownerKey, {
        name: 'me',
        role: 'member',
        groups: ['legal', 'hr'],
      });
      const me = await call('GET', '/v1/me', key.secret);
      expect(me.status).toBe(200);
      expect(me.body).toEqual({
        tenant: { id: tenant.id, slug: tenant.slug },
        principal: {
          type: 'api_key',
          keyId: key.id,
          userId: null,
          role: 'member',
          permissions: [...ROLE_PERMISSIONS.member].sort(),
          groups: ['hr', 'legal'],
        },
      });
      expect(me.text).not.toContain(key.secret);
      expect(me.text).not.toContain(SERVER_SECRET);
    });

    it('viewers get 403 on every keys route, each audited in their tenant', async () => {
      const viewer = await createKey(tenant.ownerKey, { name: 'v', role: 'viewer' });
      const target = await createKey(tenant.ownerKey, { name: 'target', role: 'viewer' });
      const attempts: ['GET' | 'POST' | 'PATCH' | 'DELETE', string, unknown][] = [
        ['GET', '/v1/api-keys', undefined],
        ['POST', '/v1/api-keys', { name: 'n', role: 'viewer' }],
        ['GET', `/v1/api-keys/${target.id}`, undefined],
        ['PATCH', `/v1/api-keys/${target.id}`, { name: 'renamed' }],
        ['DELETE', `/v1/api-keys/${target.id}`, undefined],
      ];
      for (const [method, url, payload] of attempts) {
        const r = await call(method, url, viewer.secret, payload);
        expect(r.status, `${method} ${url}`).toBe(403);
        const events = await auditOf(t, tenant.id, r.requestId);
        expect(events, `${method} ${url}`).toEqual([
          expect.objectContaining({
            action: 'auth.forbidden',
            outcome: 'denied',
            actor_type: 'api_key',
            actor_id: viewer.id,
            details: { permission: 'keys:manage', role: 'viewer' },
          }),
        ]);
      }
      const after = await call('GET', `/v1/api-keys/${target.id}`, tenant.ownerKey);
      expect(after.body).toMatchObject({ name: 'target', revokedAt: null });
    });
  });

  describe('401s, each audited (aggregated, off the request path)', () => {
    it('missing, malformed and unknown credentials land in the _system chain', async () => {
      const unknown = `rmp_${randomBytes(32).toString('base64url')}`;
      const cases: [string, string | undefined, Record<string, string>][] = [
        ['missing_credentials', undefined, {}],
        ['malformed_credentials', 'not-a-key', {}],
        ['unknown_key', unknown, {}],
      ];
      for (const [reason, key] of cases) {
        // Earlier failures of this minute are written first, so this one opens its own event.
        await app.auth.failureAudit.flush();
        const r = await call('GET', '/v1/me', key);
        expect(r.status, reason).toBe(401);
        expect(r.res.headers['www-authenticate']).toMatch(/^Bearer/);
        await app.auth.failureAudit.flush();
        const events = await auditOf(t, SYSTEM_TENANT_ID, r.requestId);
        expect(events, reason).toEqual([
          expect.objectContaining({
            action: 'auth.unauthenticated',
            outcome: 'denied',
            actor_type: 'anonymous',
            details: expect.objectContaining({
              reason,
              count: 1,
              samples: [expect.objectContaining({ requestId: r.requestId, route: 'GET /v1/me' })],
            }),
          }),
        ]);
        expect(r.text).not.toContain(unknown);
      }
    });

    it('expired and revoked keys get 401, audited in their own tenant', async () => {
      const soon = new Date(Date.now() + 60_000).toISOString();
      const expiring = await createKey(tenant.ownerKey, {
        name: 'exp',
        role: 'member',
        expiresAt: soon,
      });
      const revoked = await createKey(tenant.ownerKey, { name: 'rev', role: 'member' });
      // The revoked key is verified (and cached) first, so only the revocation can explain the 401.
      expect((await call('GET', '/v1/me', revoked.secret)).status).toBe(200);

      await t.asOwner((q) =>
        q.query(`UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = $1`, [
          expiring.id,
        ]),
      );
      const del = await call('DELETE', `/v1/api-keys/${revoked.id}`, tenant.ownerKey);
      expect(del.status).toBe(204);
      expect((await auditOf(t, tenant.id, del.requestId)).map((e) => e.action)).toEqual([
        'api_key.revoked',
      ]);

      for (const [reason, key] of [
        ['expired_key', expiring],
        ['revoked_key', revoked],
      ] as const) {
        const r = await call('GET', '/v1/me', key.secret);
        expect(r.status, reason).toBe(401);
        expect(r.body).toMatchObject({ code: 'invalid_credentials' });
        await app.auth.failureAudit.flush();
        expect(await auditOf(t, tenant.id, r.requestId), reason).toEqual([
          expect.objectContaining({
            action: 'auth.unauthenticated',
            actor_type: 'api_key',
            actor_id: key.id,
            details: expect.objectContaining({ reason, count: 1 }),
          }),
        ]);
        expect(await auditOf(t, SYSTEM_TENANT_ID, r.requestId)).toEqual([]);
      }
    });

    it('refuses an expiry in the past at creation', async () => {
      const r = await call('POST', '/v1/api-keys', tenant.ownerKey, {
        name: 'old',
        role: 'viewer',
        expiresAt: new Date(Date.now() - 1000).toISOString(),
      });
      expect(r.status).toBe(400);
    });
  });
});
