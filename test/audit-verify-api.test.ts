import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, bearer, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

interface Report {
  status: string;
  ok: boolean;
  events: number;
  head: string | null;
  brokenAt: { seq: number; id: string; reason: string } | null;
  missingHead: { seq: number | null; hash: string } | null;
  verifiedAt: string;
}

describe.each(testDrivers())('GET /v1/audit/verify (%s)', (driver) => {
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

  const verify = async (key: string, query = '') => {
    const res = await app.app.inject({
      method: 'GET',
      url: `/v1/audit/verify${query}`,
      headers: bearer(key),
    });
    return { status: res.statusCode, body: res.json() as Report & { code?: string } };
  };

  const createKey = async (ownerKey: string, name: string, role: string) => {
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: bearer(ownerKey),
      payload: { name, role },
    });
    expect(res.statusCode, res.body).toBe(201);
    return (res.json() as { secret: string }).secret;
  };

  const newestHash = async (key: string): Promise<{ seq: number; hash: string }> => {
    const res = await app.app.inject({
      method: 'GET',
      url: '/v1/audit-events?limit=1',
      headers: bearer(key),
    });
    const first = (res.json() as { data: { seq: number; hash: string }[] }).data[0];
    if (!first) throw new Error('no audit event');
    return first;
  };

  it("reports the caller's tenant chain intact, with its event count and head", async () => {
    const a = await app.createTenant();
    await createKey(a.ownerKey, 'one', 'member');
    const head = await newestHash(a.ownerKey);
    const { status, body } = await verify(a.ownerKey);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: 'intact',
      ok: true,
      events: head.seq,
      head: head.hash,
      brokenAt: null,
      missingHead: null,
    });
    // Verifying is a read: it appends nothing to the chain it verifies.
    expect((await newestHash(a.ownerKey)).seq).toBe(head.seq);
    const withHead = await verify(a.ownerKey, `?expectHead=${head.seq}:${head.hash}`);
    expect(withHead.body.status).toBe('intact');
  });

  it('names the first altered event, in this tenant only', async () => {
    const a = await app.createTenant();
    const b = await app.createTenant();
    await createKey(a.ownerKey, 'one', 'member');
    await createKey(a.ownerKey, 'two', 'member');
    await t.asOwner((q) =>
      q.query(
        `UPDATE audit_events SET details = '{"tampered":true}' WHERE tenant_id = $1 AND seq = 3`,
        [a.id],
      ),
    );
    const { status, body } = await verify(a.ownerKey);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'broken', ok: false, events: 2, head: null });
    expect(body.brokenAt?.seq).toBe(3);
    expect(body.brokenAt?.reason).toMatch(/altered/);
    // Another tenant's chain is untouched and verified on its own.
    expect((await verify(b.ownerKey)).body).toMatchObject({ status: 'intact', ok: true });
  });

  it('reports a chain whose newest events were deleted as truncated against an expected head', async () => {
    const a = await app.createTenant();
    await createKey(a.ownerKey, 'one', 'member');
    const head = await newestHash(a.ownerKey);
    await t.asOwner((q) =>
      q.query('DELETE FROM audit_events WHERE tenant_id = $1 AND seq = $2', [a.id, head.seq]),
    );
    const plain = await verify(a.ownerKey);
    expect(plain.body).toMatchObject({ status: 'intact', events: head.seq - 1 });
    const { body } = await verify(a.ownerKey, `?expectHead=${head.hash}`);
    expect(body).toMatchObject({
      status: 'truncated',
      ok: false,
      events: head.seq - 1,
      missingHead: { seq: null, hash: head.hash },
    });
  });

  it('needs audit:read and refuses a malformed head without verifying', async () => {
    const a = await app.createTenant();
    const member = await createKey(a.ownerKey, 'm', 'member');
    const refused = await verify(member);
    expect(refused.status).toBe(403);
    const bad = await verify(a.ownerKey, '?expectHead=not-a-hash');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_input');
  });
});
