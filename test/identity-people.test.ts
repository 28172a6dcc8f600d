import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient, auditOf, eventually } from './helpers/identity-api.js';

interface UserBody {
  id: string;
  email: string;
  displayName: string;
  role: string;
  groups: string[];
}
interface GroupBody {
  id: string;
  name: string;
  memberCount: number;
}
interface MeBody {
  principal: { role: string; groups: string[]; userId: string | null };
}

let seq = 0;
const email = (tag: string) => `${tag}-${Date.now().toString(36)}-${++seq}@example.com`;

describe.each(testDrivers())('identity: users and groups (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let call: ReturnType<typeof apiClient>;
  let tenant: { id: string; slug: string; ownerKey: string };
  let adminKey: string;
  let memberKey: string;

  const addUser = async (key: string, body: Record<string, unknown>): Promise<UserBody> => {
    const r = await call('POST', '/v1/users', key, body);
    expect(r.status, r.text).toBe(201);
    return r.body as UserBody;
  };
  const newKey = async (body: Record<string, unknown>, by = tenant.ownerKey) => {
    const r = await call('POST', '/v1/api-keys', by, body);
    expect(r.status, r.text).toBe(201);
    return r.body as { id: string; secret: string; userId: string | null; role: string };
  };
  const me = async (key: string) => (await call('GET', '/v1/me', key)).body as MeBody;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    // A long cache TTL: only the eviction notifications can explain a principal changing.
    app = await createTestApp(t.db, { API_KEY_CACHE_TTL_MS: '60000' });
    call = apiClient(app);
    tenant = await app.createTenant();
    adminKey = (await newKey({ name: 'admin', role: 'admin' })).secret;
    memberKey = (await newKey({ name: 'member', role: 'member' })).secret;
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  describe('users', () => {
    it('adds, reads, changes and removes a member, each change audited', async () => {
      const addr = email('ada');
      const add = await call('POST', '/v1/users', tenant.ownerKey, {
        email: addr.toUpperCase(),
        displayName: 'Ada',
        role: 'member',
      });
      expect(add.status).toBe(201);
      const user = add.body as UserBody;
      expect(user).toMatchObject({ email: addr, displayName: 'Ada', role: 'member', groups: [] });
      expect(await auditOf(t, tenant.id, add.requestId)).toEqual([
        expect.objectContaining({
          action: 'user.added',
          target_id: user.id,
          details: { email: addr, role: 'member' },
        }),
      ]);

      const again = await call('POST', '/v1/users', tenant.ownerKey, {
        email: addr,
        role: 'viewer',
      });
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ code: 'already_member' });

      expect((await call('GET', `/v1/users/${user.id}`, adminKey)).body).toMatchObject({
        id: user.id,
        role: 'member',
      });

      const patch = await call('PATCH', `/v1/users/${user.id}`, adminKey, { role: 'viewer' });
      expect(patch.status).toBe(200);
      expect(patch.body).toMatchObject({ id: user.id, role: 'viewer' });
      expect(await auditOf(t, tenant.id, patch.requestId)).toEqual([
        expect.objectContaining({
          action: 'user.role_changed',
          target_id: user.id,
          details: { role: { from: 'member', to: 'viewer' }, keysLowered: [] },
        }),
      ]);

      const del = await call('DELETE', `/v1/users/${user.id}`, adminKey);
      expect(del.status).toBe(204);
      expect(
        (await auditOf(t, tenant.id, del.requestId)).map((e) => [e.action, e.target_id]),
      ).toEqual([['user.removed', user.id]]);
      expect((await call('GET', `/v1/users/${user.id}`, adminKey)).status).toBe(404);
      expect((await call('DELETE', `/v1/users/${user.id}`, adminKey)).status).toBe(404);
    });

    it('one global user can belong to several tenants', async () => {
      const other = await app.createTenant();
      const addr = email('multi');
      const a = await addUser(tenant.ownerKey, { email: addr, role: 'viewer' });
      const b = await addUser(other.ownerKey, { email: addr, role: 'admin' });
      expect(b.id).toBe(a.id);
      expect((await call('GET', `/v1/users/${a.id}`, tenant.ownerKey)).body).toMatchObject({
        role: 'viewer',
      });
      expect((await call('GET', `/v1/users/${a.id}`, other.ownerKey)).body).toMatchObject({
        role: 'admin',
      });
    });

    it("keeps each tenant's display name to itself and answers alike whether or not the address is known elsewhere", async () => {
      const other = await app.createTenant();
      const shared = email('shared');
      const inA = await addUser(tenant.ownerKey, {
        email: shared,
        displayName: '<img src=x onerror=alert(1)>Ada',
        role: 'viewer',
      });
      // B names the same person its own way, and never sees A's name.
      const inB = await addUser(other.ownerKey, {
        email: shared,
        displayName: 'Ada B',
        role: 'viewer',
      });
      expect(inB.displayName).toBe('Ada B');
      expect((await call('GET', `/v1/users/${inB.id}`, other.ownerKey)).body).toMatchObject({
        displayName: 'Ada B',
      });
      const listB = (await call('GET', '/v1/users?limit=200', other.ownerKey)).body as {
        data: UserBody[];
      };
      expect(listB.data.find((u) => u.email === shared)?.displayName).toBe('Ada B');
      expect(JSON.stringify(listB)).not.toContain('onerror');
      const group = (await call('POST', '/v1/groups', other.ownerKey, { name: 'crew' }))
        .body as GroupBody;
      await call('PUT', `/v1/groups/${group.id}/members/${inB.id}`, other.ownerKey);
      expect((await call('GET', `/v1/groups/${group.id}`, other.ownerKey)).body).toMatchObject({
        members: [{ email: shared, displayName: 'Ada B' }],
      });
      // A keeps its own.
      expect((await call('GET', `/v1/users/${inA.id}`, tenant.ownerKey)).body).toMatchObject({
        displayName: '<img src=x onerror=alert(1)>Ada',
      });

      // Adding an address known elsewhere answers exactly as adding a new one.
      const known = email('known');
      await addUser(tenant.ownerKey, { email: known, displayName: 'Known in A', role: 'member' });
      const fresh = email('fresh');
      const third = await app.createTenant();
      const shape = (r: { status: number; body: unknown }) => {
        const { id, email: e, joinedAt, ...rest } = r.body as UserBody & { joinedAt: string };
        return {
          status: r.status,
          rest,
          idIsUuid: /^[0-9a-f-]{36}$/.test(id),
          e: typeof e,
          j: typeof joinedAt,
        };
      };
      const addKnown = await call('POST', '/v1/users', third.ownerKey, {
        email: known,
        role: 'member',
      });
      const addFresh = await call('POST', '/v1/users', third.ownerKey, {
        email: fresh,
        role: 'member',
      });
      expect(shape(addKnown)).toEqual(shape(addFresh));
      expect(shape(addKnown)).toMatchObject({
        status: 201,
        rest: { displayName: '', role: 'member', groups: [] },
      });
      const againKnown = await call('POST', '/v1/users', third.ownerKey, {
        email: known,
        role: 'member',
      });
      const againFresh = await call('POST', '/v1/users', third.ownerKey, {
        email: fresh,
        role: 'member',
      });
      expect([againKnown.status, (againKnown.body as { code: string }).code]).toEqual([
        againFresh.status,
        (againFresh.body as { code: string }).code,
      ]);
    });

    it('pages through members with a cursor', async () => {
      const own = await app.createTenant();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push((await addUser(own.ownerKey, { email: email(`p${i}`), role: 'viewer' })).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url: string = `/v1/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const r = await call('GET', url, own.ownerKey);
        expect(r.status).toBe(200);
        const body = r.body as { data: UserBody[]; nextCursor: string | null };
        expect(body.data.length).toBeLessThanOrEqual(2);
        seen.push(...body.data.map((u) => u.id));
        cursor = body.nextCursor;
        pages += 1;
      } while (cursor && pages < 10);
      expect(seen).toEqual(ids);
      expect(pages).toBe(3);
      expect((await call('GET', '/v1/users?cursor=bogus', own.ownerKey)).status).toBe(400);
    });

    it('nobody grants, changes or removes a role above their own', async () => {
      const owner = await addUser(tenant.ownerKey, { email: email('own'), role: 'owner' });
      const up = await call('POST', '/v1/users', adminKey, { email: email('x'), role: 'owner' });
      expect(up.status).toBe(403);
      expect(up.body).toMatchObject({ code: 'role_escalation' });
      const member = await addUser(adminKey, { email: email('m'), role: 'member' });
      for (const [method, url, body] of [
        ['PATCH', `/v1/users/${member.id}`, { role: 'owner' }],
        ['PATCH', `/v1/users/${owner.id}`, { role: 'viewer' }],
        ['DELETE', `/v1/users/${owner.id}`, undefined],
      ] as const) {
        const r = await call(method, url, adminKey, body);
        expect(r.status, `${method} ${url}`).toBe(403);
        expect(r.body).toMatchObject({ code: 'role_escalation' });
        expect((await auditOf(t, tenant.id, r.requestId)).map((e) => e.action)).toEqual([
          'auth.forbidden',
        ]);
      }
      expect((await call('GET', `/v1/users/${owner.id}`, tenant.ownerKey)).body).toMatchObject({
        role: 'owner',
      });
      const denied = await call('GET', '/v1/users', memberKey);
      expect(denied.status).toBe(403);
      expect(denied.body).toMatchObject({ code: 'permission_denied' });
      expect(
        (await call('POST', '/v1/users', tenant.ownerKey, { email: 'nope', role: 'viewer' }))
          .status,
      ).toBe(400);
    });
  });

  it('documents the users and groups routes in /openapi.json', async () => {
    const doc = (await call('GET', '/openapi.json')).body as { paths: Record<string, object> };
    for (const path of [
      '/v1/users',
      '/v1/users/{id}',
      '/v1/groups',
      '/v1/groups/{id}',
      '/v1/groups/{id}/members/{userId}',
    ]) {
      expect(Object.keys(doc.paths), path).toContain(path);
    }
  });

  describe('groups', () => {
    it('creates, lists, fills, empties and deletes a group, each change audited', async () => {
      const user = await addUser(tenant.ownerKey, { email: email('g'), role: 'member' });
      const create = await call('POST', '/v1/groups', adminKey, { name: 'legal' });
      expect(create.status).toBe(201);
      const group = create.body as GroupBody;
      expect(group).toMatchObject({ name: 'legal', memberCount: 0 });
      expect((await auditOf(t, tenant.id, create.requestId)).map((e) => e.action)).toEqual([
        'group.created',
      ]);
      expect((await call('POST', '/v1/groups', adminKey, { name: 'legal' })).status).toBe(409);
      expect((await call('POST', '/v1/groups', adminKey, { name: '-bad name' })).status).toBe(400);

      const put = await call('PUT', `/v1/groups/${group.id}/members/${user.id}`, adminKey);
      expect(put.status).toBe(204);
      expect(await auditOf(t, tenant.id, put.requestId)).toEqual([
        expect.objectContaining({
          action: 'group.member_added',
          target_id: group.id,
          details: { group: 'legal', userId: user.id },
        }),
      ]);
      const putAgain = await call('PUT', `/v1/groups/${group.id}/members/${user.id}`, adminKey);
      expect(putAgain.status).toBe(204);
      expect(await auditOf(t, tenant.id, putAgain.requestId)).toEqual([]);

      const detail = await call('GET', `/v1/groups/${group.id}`, adminKey);
      expect(detail.body).toMatchObject({
        memberCount: 1,
        members: [{ id: user.id, email: user.email }],
      });
      expect((await call('GET', `/v1/users/${user.id}`, adminKey)).body).toMatchObject({
        groups: ['legal'],
      });
      const list = (await call('GET', '/v1/groups', adminKey)).body as { data: GroupBody[] };
      expect(list.data.find((g) => g.id === group.id)).toMatchObject({
        name: 'legal',
        memberCount: 1,
      });

      const rm = await call('DELETE', `/v1/groups/${group.id}/members/${user.id}`, adminKey);
      expect(rm.status).toBe(204);
      expect((await auditOf(t, tenant.id, rm.requestId)).map((e) => e.action)).toEqual([
        'group.member_removed',
      ]);
      expect(
        (await call('DELETE', `/v1/groups/${group.id}/members/${user.id}`, adminKey)).status,
      ).toBe(404);

      const del = await call('DELETE', `/v1/groups/${group.id}`, adminKey);
      expect(del.status).toBe(204);
      expect((await auditOf(t, tenant.id, del.requestId)).map((e) => e.action)).toEqual([
        'group.deleted',
      ]);
      expect((await call('GET', `/v1/groups/${group.id}`, adminKey)).status).toBe(404);
      expect((await call('GET', '/v1/groups', memberKey)).status).toBe(403);
    });

    it('a key bound to a user picks up its group changes at once, and never exceeds its role', async () => {
      const user = await addUser(tenant.ownerKey, { email: email('k'), role: 'member' });
      const tooHigh = await call('POST', '/v1/api-keys', tenant.ownerKey, {
        name: 'k',
        role: 'admin',
        userId: user.id,
      });
      expect(tooHigh.status).toBe(403);
      expect(tooHigh.body).toMatchObject({ code: 'role_escalation' });
      const key = await newKey({ name: 'k', role: 'member', userId: user.id });
      expect(key.userId).toBe(user.id);
      expect(await me(key.secret)).toMatchObject({ principal: { userId: user.id, groups: [] } });

      const group = (await call('POST', '/v1/groups', adminKey, { name: 'finance' }))
        .body as GroupBody;
      await call('PUT', `/v1/groups/${group.id}/members/${user.id}`, adminKey);
      // On PostgreSQL the eviction arrives over LISTEN/NOTIFY; it must within the 5 s bound.
      expect(
        await eventually(async () => (await me(key.secret)).principal.groups.includes('finance')),
      ).toBe(true);
      await call('DELETE', `/v1/groups/${group.id}/members/${user.id}`, adminKey);
      expect(
        await eventually(async () => (await me(key.secret)).principal.groups.length === 0),
      ).toBe(true);
      await call('PUT', `/v1/groups/${group.id}/members/${user.id}`, adminKey);
      expect(
        await eventually(async () => (await me(key.secret)).principal.groups.includes('finance')),
      ).toBe(true);
      await call('DELETE', `/v1/groups/${group.id}`, adminKey);
      expect(
        await eventually(async () => (await me(key.secret)).principal.groups.length === 0),
      ).toBe(true);

      // Lowering the user lowers the key; removing the user revokes it.
      const lower = await call('PATCH', `/v1/users/${user.id}`, tenant.ownerKey, {
        role: 'viewer',
      });
      expect((await auditOf(t, tenant.id, lower.requestId))[0]?.details).toEqual({
        role: { from: 'member', to: 'viewer' },
        keysLowered: [key.id],
      });
      expect(await eventually(async () => (await me(key.secret)).principal.role === 'viewer')).toBe(
        true,
      );
      const raise = await call('PATCH', `/v1/api-keys/${key.id}`, tenant.ownerKey, {
        role: 'member',
      });
      expect(raise.status).toBe(403);
      await call('DELETE', `/v1/users/${user.id}`, tenant.ownerKey);
      expect(
        await eventually(async () => (await call('GET', '/v1/me', key.secret)).status === 401),
      ).toBe(true);
    });

    it('refuses unknown groups on keys (400 unknown_group naming them); users join groups only by id', async () => {
      const made = await call('POST', '/v1/api-keys', tenant.ownerKey, {
        name: 'u',
        role: 'viewer',
        groups: ['no-such-group', 'also-missing'],
      });
      expect(made.status).toBe(400);
      expect(made.body).toMatchObject({
        code: 'unknown_group',
        groups: ['also-missing', 'no-such-group'],
      });
      expect((made.body as { detail: string }).detail).toContain('no-such-group');
      await call('POST', '/v1/groups', adminKey, { name: 'known-g' });
      const key = await newKey({ name: 'u', role: 'viewer', groups: ['known-g'] });
      const patch = await call('PATCH', `/v1/api-keys/${key.id}`, tenant.ownerKey, {
        groups: ['known-g', 'ghost'],
      });
      expect(patch.status).toBe(400);
      expect(patch.body).toMatchObject({ code: 'unknown_group', groups: ['ghost'] });
      expect((await call('GET', `/v1/api-keys/${key.id}`, tenant.ownerKey)).body).toMatchObject({
        groups: ['known-g'],
      });
      // A user is put in a group by the group's id: one that does not exist is a 404.
      const user = await addUser(tenant.ownerKey, { email: email('g'), role: 'viewer' });
      const missing = '00000000-0000-4000-8000-000000000000';
      expect((await call('PUT', `/v1/groups/${missing}/members/${user.id}`, adminKey)).status).toBe(
        404,
      );
    });

    it('refuses to bind a key to a stranger, or to change groups of someone above the caller', async () => {
      const other = await app.createTenant();
      const stranger = await addUser(other.ownerKey, { email: email('s'), role: 'viewer' });
      const r = await call('POST', '/v1/api-keys', tenant.ownerKey, {
        name: 's',
        role: 'viewer',
        userId: stranger.id,
      });
      expect(r.status).toBe(404);
      const owner = await addUser(tenant.ownerKey, { email: email('o'), role: 'owner' });
      const group = (await call('POST', '/v1/groups', adminKey, { name: 'board' }))
        .body as GroupBody;
      const put = await call('PUT', `/v1/groups/${group.id}/members/${owner.id}`, adminKey);
      expect(put.status).toBe(403);
      expect(put.body).toMatchObject({ code: 'role_escalation' });
      expect(
        (await call('PUT', `/v1/groups/${group.id}/members/${stranger.id}`, adminKey)).status,
      ).toBe(404);
      expect((await call('GET', `/v1/groups/${group.id}`, adminKey)).body).toMatchObject({
        memberCount: 0,
      });
    });
  });
});
