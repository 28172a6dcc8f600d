import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAuditEvent, verifyChain, type AuditAction } from '../src/audit/service.js';
import { createTestApp, bearer, ROOT_TOKEN, uniqueSlug, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

interface AuditEventView {
  id: string;
  seq: number;
  occurredAt: string;
  actor: { type: string; id: string | null };
  action: string;
  storedAction: string;
  target: { type: string; id: string | null } | null;
  outcome: string;
  ip: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
  hash: string;
  prevHash: string;
}
interface Page {
  data: AuditEventView[];
  nextCursor: string | null;
}

describe.each(testDrivers())('audit events from API actions (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db);
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  async function list(key: string, query = ''): Promise<Page> {
    const res = await app.app.inject({
      method: 'GET',
      url: `/v1/audit-events${query}`,
      headers: bearer(key),
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as Page;
  }

  /** Every event of the key's tenant, newest first (one page: the tests stay under 500). */
  async function all(key: string): Promise<AuditEventView[]> {
    const page = await list(key, '?limit=500');
    expect(page.nextCursor).toBeNull();
    return page.data;
  }

  async function keyIdOf(key: string): Promise<string> {
    const res = await app.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(key) });
    return (res.json() as { principal: { keyId: string } }).principal.keyId;
  }

  async function createKey(
    ownerKey: string,
    body: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): Promise<{ id: string; secret: string }> {
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: { ...bearer(ownerKey), ...headers },
      payload: body,
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { id: string; secret: string };
  }

  it('records tenant creation and the owner key in the new tenant chain, with ip and request id', async () => {
    const slug = uniqueSlug('audit');
    const res = await app.app.inject({
      method: 'POST',
      url: '/admin/v1/tenants',
      headers: { ...bearer(ROOT_TOKEN), 'x-request-id': 'req-create-tenant-0001' },
      remoteAddress: '203.0.113.7',
      payload: { slug, name: 'Audit Co' },
    });
    expect(res.statusCode, res.body).toBe(201);
    const { tenant, apiKey } = res.json() as { tenant: { id: string }; apiKey: string };
    const ownerKeyId = await keyIdOf(apiKey);

    const events = (await all(apiKey)).slice().reverse(); // oldest first
    expect(events.map((e) => [e.seq, e.action])).toEqual([
      [1, 'tenant.created'],
      [2, 'api_key.created'],
    ]);
    const [created, key] = events as [AuditEventView, AuditEventView];
    expect(created).toMatchObject({
      actor: { type: 'operator', id: null },
      target: { type: 'tenant', id: tenant.id },
      outcome: 'success',
      ip: '203.0.113.7',
      requestId: 'req-create-tenant-0001',
      details: { slug, name: 'Audit Co' },
      prevHash: '0'.repeat(64),
    });
    expect(key).toMatchObject({
      actor: { type: 'operator', id: null },
      target: { type: 'api_key', id: ownerKeyId },
      outcome: 'success',
      ip: '203.0.113.7',
      requestId: 'req-create-tenant-0001',
      details: { role: 'owner' },
      prevHash: created.hash,
    });
    expect(res.headers['x-request-id']).toBe('req-create-tenant-0001');
  });

  it('records key creation and revocation with the acting key, target, ip and request id', async () => {
    const a = await app.createTenant();
    const ownerId = await keyIdOf(a.ownerKey);
    const key = await createKey(
      a.ownerKey,
      { name: 'ci', role: 'member' },
      { 'x-request-id': 'req-key-create-0001' },
    );
    const revoke = await app.app.inject({
      method: 'DELETE',
      url: `/v1/api-keys/${key.id}`,
      headers: { ...bearer(a.ownerKey), 'x-request-id': 'req-key-revoke-0001' },
      remoteAddress: '198.51.100.4',
    });
    expect(revoke.statusCode, revoke.body).toBe(204);

    const events = await all(a.ownerKey);
    const byRequest = (id: string) => events.filter((e) => e.requestId === id);
    expect(byRequest('req-key-create-0001')).toEqual([
      expect.objectContaining({
        action: 'api_key.created',
        actor: { type: 'api_key', id: ownerId },
        target: { type: 'api_key', id: key.id },
        outcome: 'success',
        ip: '127.0.0.1',
        details: expect.objectContaining({ name: 'ci', role: 'member' }),
      }),
    ]);
    expect(byRequest('req-key-revoke-0001')).toEqual([
      expect.objectContaining({
        action: 'api_key.revoked',
        actor: { type: 'api_key', id: ownerId },
        target: { type: 'api_key', id: key.id },
        outcome: 'success',
        ip: '198.51.100.4',
      }),
    ]);
    // Newest first, one contiguous chain.
    expect(events.map((e) => e.seq)).toEqual([4, 3, 2, 1]);
    for (let i = 0; i < events.length - 1; i++)
      expect(events[i]?.prevHash).toBe(events[i + 1]?.hash);
  });

  it('needs audit:read: a member key gets 403, and that refusal is itself audited', async () => {
    const a = await app.createTenant();
    const member = await createKey(a.ownerKey, { name: 'm', role: 'member' });
    const res = await app.app.inject({
      method: 'GET',
      url: '/v1/audit-events',
      headers: { ...bearer(member.secret), 'x-request-id': 'req-forbidden-0001' },
    });
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);

    const denied = (await all(a.ownerKey)).filter((e) => e.requestId === 'req-forbidden-0001');
    expect(denied).toEqual([
      expect.objectContaining({
        action: 'auth.forbidden',
        actor: { type: 'api_key', id: member.id },
        target: { type: 'route', id: 'GET /v1/audit-events' },
        outcome: 'denied',
        details: expect.objectContaining({ permission: 'audit:read', role: 'member' }),
      }),
    ]);
    // An admin key holds audit:read.
    const admin = await createKey(a.ownerKey, { name: 'adm', role: 'admin' });
    expect((await list(admin.secret)).data.length).toBeGreaterThan(0);
  });

  it('reads events stored under a legacy action name as the canonical one, and filters by either', async () => {
    const a = await app.createTenant();
    // Written as versions before the names were made uniform did; the chain keeps that name.
    await t.db.withTenant({ tenantId: a.id, userId: null, groups: [] }, (tx) =>
      appendAuditEvent(tx, {
        actor: { type: 'system', id: null },
        action: 'document.create' as AuditAction,
        target: { type: 'document', id: 'legacy-doc' },
        outcome: 'success',
      }),
    );
    await t.db.withTenant({ tenantId: a.id, userId: null, groups: [] }, (tx) =>
      appendAuditEvent(tx, {
        actor: { type: 'system', id: null },
        action: 'document.created',
        target: { type: 'document', id: 'new-doc' },
        outcome: 'success',
      }),
    );
    for (const name of ['document.created', 'document.create']) {
      const page = await list(a.ownerKey, `?action=${name}`);
      expect(page.data.map((e) => [e.target?.id, e.action, e.storedAction])).toEqual([
        ['new-doc', 'document.created', 'document.created'],
        ['legacy-doc', 'document.created', 'document.create'],
      ]);
    }
    expect(await verifyChain(t.db, a.id)).toMatchObject({ ok: true });
  });

  it('filters by action, actor and time range', async () => {
    const a = await app.createTenant();
    const admin = await createKey(a.ownerKey, { name: 'adm', role: 'admin' });
    const made: string[] = [];
    for (let i = 0; i < 3; i++)
      made.push((await createKey(admin.secret, { name: `k${i}`, role: 'viewer' })).id);
    const everything = await all(a.ownerKey);
    expect(everything).toHaveLength(2 + 1 + 3);

    const created = await list(a.ownerKey, '?action=api_key.created&limit=500');
    expect(created.data.map((e) => e.action)).toEqual(Array(5).fill('api_key.created'));

    const byAdmin = await list(a.ownerKey, `?actorId=${admin.id}&limit=500`);
    expect(byAdmin.data.map((e) => e.target?.id)).toEqual([...made].reverse());

    const byOperator = await list(a.ownerKey, '?actorType=operator&limit=500');
    expect(byOperator.data.map((e) => e.action)).toEqual(['api_key.created', 'tenant.created']);

    const none = await list(a.ownerKey, '?action=no.such.action');
    expect(none).toEqual({ data: [], nextCursor: null });

    // from is inclusive, to exclusive; compare with the full list, since events may share a millisecond.
    const oldestFirst = everything.slice().reverse();
    const from = (oldestFirst[2] as AuditEventView).occurredAt;
    const to = (oldestFirst[4] as AuditEventView).occurredAt;
    const inRange = (e: AuditEventView) => e.occurredAt >= from && e.occurredAt < to;
    const ranged = await list(
      a.ownerKey,
      `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=500`,
    );
    expect(ranged.data.map((e) => e.seq)).toEqual(everything.filter(inRange).map((e) => e.seq));
    expect(ranged.data.map((e) => e.seq)).toContain(3);
    expect(ranged.data.map((e) => e.seq)).not.toContain(5);
    const fromOnly = await list(a.ownerKey, `?from=${encodeURIComponent(from)}&limit=500`);
    expect(fromOnly.data.map((e) => e.seq)).toEqual(
      everything.filter((e) => e.occurredAt >= from).map((e) => e.seq),
    );
    // Filters combine.
    const combined = await list(
      a.ownerKey,
      `?actorId=${admin.id}&action=api_key.created&from=${encodeURIComponent(from)}&limit=500`,
    );
    expect(combined.data.every((e) => e.actor.id === admin.id && e.occurredAt >= from)).toBe(true);
  });

  it('walks every page with the cursor, without duplicates or gaps', async () => {
    const a = await app.createTenant();
    for (let i = 0; i < 11; i++) await createKey(a.ownerKey, { name: `p${i}`, role: 'viewer' });
    const everything = await all(a.ownerKey);
    expect(everything.map((e) => e.seq)).toEqual(Array.from({ length: 13 }, (_, i) => 13 - i));

    for (const [limit, query] of [
      [5, ''],
      [4, '&action=api_key.created'],
    ] as const) {
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Page = await list(
          a.ownerKey,
          `?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(page.data.length).toBeLessThanOrEqual(limit);
        seen.push(...page.data.map((e) => e.seq));
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor && pages < 20);
      const expected = everything
        .filter((e) => !query || e.action === 'api_key.created')
        .map((e) => e.seq);
      expect(seen).toEqual(expected);
      expect(pages).toBe(Math.ceil(expected.length / limit));
    }
  });

  it('rejects an invalid cursor and bad filters with 400 problem+json naming the field', async () => {
    const a = await app.createTenant();
    for (const [query, field] of [
      ['?cursor=not-a-cursor', 'query.cursor'],
      [`?cursor=${Buffer.from('seq:abc').toString('base64url')}`, 'query.cursor'],
      ['?from=yesterday', 'query.from'],
      ['?limit=0', 'query.limit'],
      ['?actorType=robot', 'query.actorType'],
    ] as const) {
      const res = await app.app.inject({
        method: 'GET',
        url: `/v1/audit-events${query}`,
        headers: bearer(a.ownerKey),
      });
      expect(res.statusCode, query).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = res.json() as { code: string; errors?: { field: string }[] };
      expect(problem.code).toBe('invalid_input');
      const fields = (problem.errors ?? []).map((e) => e.field);
      expect(fields).toContain(field);
    }
  });

  it("never shows tenant B's events to tenant A", async () => {
    const a = await app.createTenant();
    const b = await app.createTenant();
    const bKey = await createKey(b.ownerKey, { name: 'b-secret-key', role: 'member' });
    const bEvents = await all(b.ownerKey);
    const aEvents = await all(a.ownerKey);
    const bIds = new Set(bEvents.map((e) => e.id));
    expect(aEvents.length).toBeGreaterThan(0);
    expect(aEvents.some((e) => bIds.has(e.id))).toBe(false);
    expect(JSON.stringify(aEvents)).not.toContain(b.id);
    expect(JSON.stringify(aEvents)).not.toContain(bKey.id);
    // Filtering on B's actor or action from A finds nothing either.
    expect((await list(a.ownerKey, `?actorId=${bKey.id}`)).data).toEqual([]);
    const bOwnerId = bEvents.find((e) => e.target?.id === bKey.id)?.actor.id as string;
    expect((await list(a.ownerKey, `?actorId=${bOwnerId}`)).data).toEqual([]);
    // A cursor taken from B's listing pages A's own events only.
    const bPage = await list(b.ownerKey, '?limit=1');
    const viaBCursor = await list(
      a.ownerKey,
      `?cursor=${encodeURIComponent(bPage.nextCursor as string)}&limit=500`,
    );
    expect(viaBCursor.data.every((e) => !bIds.has(e.id))).toBe(true);
  });
});
