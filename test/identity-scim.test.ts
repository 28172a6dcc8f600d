import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { PEOPLE_ENV, signedInMember } from './helpers/people.js';

const SCIM_JSON = 'application/scim+json';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

interface ScimUser {
  id: string;
  userName: string;
  active: boolean;
  displayName: string;
  meta: { version: string; location: string };
}
interface ScimList<T> {
  totalResults: number;
  startIndex: number;
  itemsPerPage: number;
  Resources: T[];
}

describe.each(testDrivers())('identity: SCIM 2.0 (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let tenant: { id: string; slug: string; ownerKey: string };
  let scimToken: string;

  async function scim(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    payload?: unknown,
    headers: Record<string, string> = {},
  ) {
    return app.app.inject({
      method,
      url: `/scim/v2${url}`,
      headers: {
        authorization: `Bearer ${scimToken}`,
        ...(payload !== undefined ? { 'content-type': SCIM_JSON } : {}),
        ...headers,
      },
      ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
    });
  }

  async function findUser(userName: string): Promise<ScimUser | undefined> {
    const res = await scim(
      'GET',
      `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`,
    );
    expect(res.statusCode, res.body).toBe(200);
    return res.json<ScimList<ScimUser>>().Resources[0];
  }

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, PEOPLE_ENV);
    tenant = await app.createTenant();
    const res = await app.app.inject({
      method: 'POST',
      url: '/v1/identity/scim-token',
      headers: { authorization: `Bearer ${tenant.ownerKey}` },
    });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json<{ token: string; baseUrl: string }>();
    scimToken = body.token;
    expect(body.baseUrl).toBe('https://rampart.test/scim/v2');
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('issues the SCIM token once, to an owner; stores only its hash; rotation ends the old one', async () => {
    expect(scimToken).toMatch(/^rmscim_[A-Za-z0-9_-]{43}$/);
    const view = await app.app.inject({
      method: 'GET',
      url: '/v1/identity/scim-token',
      headers: { authorization: `Bearer ${tenant.ownerKey}` },
    });
    expect(view.json()).toMatchObject({ prefix: scimToken.slice(0, 15) });
    expect(view.body).not.toContain(scimToken);
    const stored = await t.asOwner((q) =>
      q.query<{ row: string }>('SELECT s::text AS row FROM scim_tokens s'),
    );
    expect(stored.rows.map((r) => r.row).join()).not.toContain(scimToken);
    const admin = await app.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: { authorization: `Bearer ${tenant.ownerKey}` },
      payload: { name: 'adm', role: 'admin' },
    });
    const adminKey = admin.json<{ secret: string }>().secret;
    const refused = await app.app.inject({
      method: 'POST',
      url: '/v1/identity/scim-token',
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(refused.statusCode).toBe(403);
    // An API key is not a SCIM credential: 403 in SCIM's error shape.
    const withKey = await app.app.inject({
      method: 'GET',
      url: '/scim/v2/Users',
      headers: { authorization: `Bearer ${tenant.ownerKey}` },
    });
    expect(withKey.statusCode).toBe(403);
    expect(withKey.json()).toMatchObject({ schemas: [ERROR], status: '403' });
    const rotated = await app.app.inject({
      method: 'POST',
      url: '/v1/identity/scim-token',
      headers: { authorization: `Bearer ${tenant.ownerKey}` },
    });
    const previous = scimToken;
    scimToken = rotated.json<{ token: string }>().token;
    expect(scimToken).not.toBe(previous);
    expect((await scim('GET', '/Users')).statusCode).toBe(200);
    const old = await app.app.inject({
      method: 'GET',
      url: '/scim/v2/Users',
      headers: { authorization: `Bearer ${previous}` },
    });
    expect(old.statusCode).toBe(401);
    const anonymous = await app.app.inject({ method: 'GET', url: '/scim/v2/Users' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['content-type']).toContain(SCIM_JSON);
    expect(anonymous.json()).toMatchObject({ schemas: [ERROR], status: '401' });
  });

  it('describes itself: ServiceProviderConfig, ResourceTypes, Schemas', async () => {
    const spc = await scim('GET', '/ServiceProviderConfig');
    expect(spc.statusCode).toBe(200);
    expect(spc.json()).toMatchObject({
      patch: { supported: true },
      filter: { supported: true },
      etag: { supported: true },
      bulk: { supported: false },
    });
    const types = (await scim('GET', '/ResourceTypes')).json<ScimList<{ id: string }>>();
    expect(types.Resources.map((r) => r.id)).toEqual(['User', 'Group']);
    const schemas = (await scim('GET', '/Schemas')).json<ScimList<{ id: string }>>();
    expect(schemas.Resources.map((r) => r.id)).toEqual([
      'urn:ietf:params:scim:schemas:core:2.0:User',
      'urn:ietf:params:scim:schemas:core:2.0:Group',
    ]);
  });

  it('creates users as Okta sends them, filters and pages them, refuses duplicates', async () => {
    const created = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'Okta.User@Example.com',
      name: { givenName: 'Okta', familyName: 'User' },
      emails: [{ primary: true, value: 'okta.user@example.com', type: 'work' }],
      displayName: 'Okta User',
      locale: 'en-US',
      externalId: '00u1abcd',
      groups: [],
      password: 'ignored-Passw0rd',
      active: true,
    });
    expect(created.statusCode, created.body).toBe(201);
    const user = created.json<ScimUser & { externalId: string; name: Record<string, string> }>();
    expect(user).toMatchObject({
      userName: 'okta.user@example.com',
      externalId: '00u1abcd',
      active: true,
      name: { givenName: 'Okta', familyName: 'User' },
    });
    expect(created.headers.location).toBe(`https://rampart.test/scim/v2/Users/${user.id}`);
    expect(created.headers.etag).toBe(user.meta.version);
    const dup = await scim('POST', '/Users', { userName: 'okta.user@example.com' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({ schemas: [ERROR], scimType: 'uniqueness' });
    // Okta's existence check, case-insensitively, and by externalId.
    expect((await findUser('OKTA.USER@example.com'))?.id).toBe(user.id);
    const byExt = await scim(
      'GET',
      `/Users?filter=${encodeURIComponent('externalId eq "00u1abcd"')}`,
    );
    expect(byExt.json<ScimList<ScimUser>>().totalResults).toBe(1);
    expect(await findUser('nobody@example.com')).toBeUndefined();
    for (const n of [1, 2, 3])
      expect((await scim('POST', '/Users', { userName: `page${n}@example.com` })).statusCode).toBe(
        201,
      );
    const filter = encodeURIComponent('userName sw "page" and active eq true');
    const first = (await scim('GET', `/Users?filter=${filter}&startIndex=1&count=2`)).json<
      ScimList<ScimUser>
    >();
    expect(first).toMatchObject({ totalResults: 3, startIndex: 1, itemsPerPage: 2 });
    const rest = (await scim('GET', `/Users?filter=${filter}&startIndex=3&count=2`)).json<
      ScimList<ScimUser>
    >();
    expect(rest.Resources.map((u) => u.userName)).toEqual(['page3@example.com']);
    const bad = await scim('GET', `/Users?filter=${encodeURIComponent('userName zz "x"')}`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ schemas: [ERROR], scimType: 'invalidFilter' });
    expect((await scim('GET', '/Users/not-a-uuid')).statusCode).toBe(404);
  });

  it('patches as Entra ID sends it, with ETags', async () => {
    const res = await scim('POST', '/Users', { userName: 'entra@example.com', externalId: 'e-1' });
    const user = res.json<ScimUser>();
    const patched = await scim(
      'PATCH',
      `/Users/${user.id}`,
      {
        schemas: [PATCH_OP],
        Operations: [
          { op: 'Replace', path: 'displayName', value: 'Entra Person' },
          { op: 'Add', path: 'name.givenName', value: 'Entra' },
          { op: 'Replace', path: 'emails[type eq "work"].value', value: 'entra@example.com' },
          {
            op: 'Add',
            path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department',
            value: 'Legal',
          },
        ],
      },
      { 'if-match': user.meta.version },
    );
    expect(patched.statusCode, patched.body).toBe(200);
    const after = patched.json<ScimUser & { name: Record<string, string> }>();
    expect(after).toMatchObject({ displayName: 'Entra Person', name: { givenName: 'Entra' } });
    expect(after.meta.version).not.toBe(user.meta.version);
    const stale = await scim(
      'PATCH',
      `/Users/${user.id}`,
      { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'displayName', value: 'x' }] },
      { 'if-match': user.meta.version },
    );
    expect(stale.statusCode).toBe(412);
    const rename = await scim('PATCH', `/Users/${user.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Replace', path: 'userName', value: 'other@example.com' }],
    });
    expect(rename.statusCode).toBe(400);
    expect(rename.json()).toMatchObject({ scimType: 'mutability' });
  });

  it('deactivation (Entra "False") cuts off the session, access token and keys at once', async () => {
    const who = await signedInMember(app, tenant, 'leaver@example.com');
    const token = await app.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: who.writeHeaders,
      payload: { grant_type: 'session' },
    });
    const access = token.json<{ access_token: string }>().access_token;
    const key = await app.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: { authorization: `Bearer ${tenant.ownerKey}` },
      payload: { name: 'theirs', role: 'member', userId: who.userId },
    });
    expect(key.statusCode, key.body).toBe(201);
    const secret = key.json<{ secret: string }>().secret;
    const me = (headers: { cookie: string } | { authorization: string }) =>
      app.app.inject({ method: 'GET', url: '/v1/me', headers });
    for (const h of [
      { cookie: who.cookie },
      { authorization: `Bearer ${access}` },
      { authorization: `Bearer ${secret}` },
    ])
      expect((await me(h)).statusCode).toBe(200);
    const user = await findUser('leaver@example.com');
    const off = await scim('PATCH', `/Users/${user?.id ?? ''}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
    });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json()).toMatchObject({ active: false });
    for (const h of [
      { cookie: who.cookie },
      { authorization: `Bearer ${access}` },
      { authorization: `Bearer ${secret}` },
    ])
      expect((await me(h)).statusCode).toBe(401);
    // Signing in again is refused, with the same answer as a wrong password.
    const again = await app.app.inject({
      method: 'POST',
      url: `/auth/${tenant.slug}/password`,
      payload: { email: 'leaver@example.com', password: 'correct horse battery staple' },
    });
    expect(again.statusCode).toBe(401);
    const { rows } = await t.asOwner((q) =>
      q.query<{ details: Record<string, number> }>(
        `SELECT details FROM audit_events WHERE tenant_id = $1 AND action = 'user.deactivated'
            AND target_id = (SELECT pseudonym FROM audit_subject_keys
                              WHERE tenant_id = $1 AND kind = 'user' AND subject = $2::text)`,
        [tenant.id, user?.id],
      ),
    );
    expect(rows[0]?.details).toMatchObject({ sessions: 1, tokenFamilies: 1, keys: 1 });
    // Okta's shape reactivates (no path, an object value); DELETE deprovisions.
    const on = await scim('PATCH', `/Users/${user?.id ?? ''}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', value: { active: true } }],
    });
    expect(on.json()).toMatchObject({ active: true });
    expect((await scim('DELETE', `/Users/${user?.id ?? ''}`)).statusCode).toBe(204);
    expect((await scim('GET', `/Users/${user?.id ?? ''}`)).statusCode).toBe(404);
  });

  it('group membership changes apply to a restricted document at once', async () => {
    const reader = await signedInMember(app, tenant, 'reader@example.com');
    const user = await findUser('reader@example.com');
    const created = await scim('POST', '/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'Legal Team',
      externalId: 'g-legal',
      members: [],
    });
    expect(created.statusCode, created.body).toBe(201);
    const group = created.json<{ id: string; displayName: string; meta: { version: string } }>();
    expect(group.displayName).toBe('Legal Team');
    const doc = await app.app.inject({
      method: 'POST',
      url: '/v1/documents',
      headers: { authorization: `Bearer ${tenant.ownerKey}` },
      payload: { title: 'Contract', text: 'privileged terms', groups: ['Legal-Team'] },
    });
    expect(doc.statusCode, doc.body).toBe(202);
    const docId = doc.json<{ id: string }>().id;
    const read = () =>
      app.app.inject({
        method: 'GET',
        url: `/v1/documents/${docId}`,
        headers: { cookie: reader.cookie },
      });
    expect((await read()).statusCode).toBe(404);
    const add = await scim('PATCH', `/Groups/${group.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Add', path: 'members', value: [{ value: user?.id }] }],
    });
    expect(add.statusCode, add.body).toBe(200);
    expect((await read()).statusCode).toBe(200);
    const byMember = await scim(
      'GET',
      `/Groups?filter=${encodeURIComponent(`displayName eq "Legal Team" and members[value eq "${user?.id ?? ''}"]`)}&excludedAttributes=members`,
    );
    expect(byMember.json<ScimList<{ id: string; members?: unknown }>>()).toMatchObject({
      totalResults: 1,
      Resources: [{ id: group.id }],
    });
    expect(byMember.json<ScimList<{ members?: unknown }>>().Resources[0]?.members).toBeUndefined();
    // Entra ID removes with a value filter in the path.
    const remove = await scim('PATCH', `/Groups/${group.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Remove', path: `members[value eq "${user?.id ?? ''}"]` }],
    });
    expect(remove.statusCode, remove.body).toBe(200);
    expect((await read()).statusCode).toBe(404);
    // Okta replaces the name and the member list.
    const put = await scim('PUT', `/Groups/${group.id}`, {
      displayName: 'Legal Dept',
      members: [{ value: user?.id }],
    });
    expect(put.json()).toMatchObject({ displayName: 'Legal Dept', members: [{ value: user?.id }] });
    expect((await read()).statusCode).toBe(200);
    // Deleting it would leave the restricted document with no group (tenant-wide): refused.
    const del = await scim('DELETE', `/Groups/${group.id}`);
    expect(del.statusCode).toBe(409);
    expect(del.json()).toMatchObject({ schemas: [ERROR], status: '409' });
  });

  it('audits every SCIM change as the SCIM client, and reaches no other tenant', async () => {
    const group = await scim('POST', '/Groups', { displayName: 'Short Lived' });
    expect((await scim('DELETE', `/Groups/${group.json<{ id: string }>().id}`)).statusCode).toBe(
      204,
    );
    const { rows } = await t.asOwner((q) =>
      q.query<{ action: string }>(
        `SELECT DISTINCT action FROM audit_events WHERE tenant_id = $1 AND actor_id = 'scim'`,
        [tenant.id],
      ),
    );
    expect(rows.map((r) => r.action).sort()).toEqual([
      'group.created',
      'group.member_added',
      'group.member_removed',
      'group.renamed',
      'user.deactivated',
      'user.provisioned',
      'user.reactivated',
      'user.removed',
      'user.updated',
    ]);
    const other = await app.createTenant();
    const otherToken = (
      await app.app.inject({
        method: 'POST',
        url: '/v1/identity/scim-token',
        headers: { authorization: `Bearer ${other.ownerKey}` },
      })
    ).json<{ token: string }>().token;
    const mine = await findUser('okta.user@example.com');
    const asOther = (method: 'GET' | 'PATCH' | 'DELETE') =>
      app.app.inject({
        method,
        url: `/scim/v2/Users/${mine?.id ?? ''}`,
        headers: {
          authorization: `Bearer ${otherToken}`,
          ...(method === 'PATCH' ? { 'content-type': SCIM_JSON } : {}),
        },
        ...(method === 'PATCH'
          ? {
              payload: JSON.stringify({
                Operations: [{ op: 'replace', path: 'active', value: false }],
              }),
            }
          : {}),
      });
    for (const m of ['GET', 'PATCH', 'DELETE'] as const)
      expect((await asOther(m)).statusCode).toBe(404);
    const list = await app.app.inject({
      method: 'GET',
      url: '/scim/v2/Users',
      headers: { authorization: `Bearer ${otherToken}` },
    });
    expect(list.json<ScimList<ScimUser>>().totalResults).toBe(0);
    expect((await findUser('okta.user@example.com'))?.active).toBe(true);
  });
});
