import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { eventually } from './helpers/identity-api.js';
import { PEOPLE_ENV, PUBLIC_URL, signedInMember, type SignedIn } from './helpers/people.js';

interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: string;
  audience: string;
}

describe.each(testDrivers())('identity: tokens for apps (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  /** A second instance on the same database, with a few seconds' grace for retried refreshes. */
  let lenient: TestApp;
  let tenant: { id: string; slug: string; ownerKey: string };
  let n = 0;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, {
      ...PEOPLE_ENV,
      REFRESH_TOKEN_REUSE_GRACE_SECONDS: '0',
      API_KEY_CACHE_TTL_MS: '0',
    });
    lenient = await createTestApp(t.db, {
      ...PEOPLE_ENV,
      REFRESH_TOKEN_REUSE_GRACE_SECONDS: '30',
      API_KEY_CACHE_TTL_MS: '0',
    });
    tenant = await app.createTenant();
  });
  afterAll(async () => {
    await lenient?.close();
    await app?.close();
    await t?.close();
  });

  async function person(): Promise<SignedIn> {
    n += 1;
    return signedInMember(app, tenant, `tok${n}@example.com`);
  }

  async function grant(on: TestApp, who: SignedIn, extra: Record<string, string> = {}) {
    return on.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: who.writeHeaders,
      payload: { grant_type: 'session', ...extra },
    });
  }

  async function refresh(on: TestApp, token: string) {
    return on.app.inject({
      method: 'POST',
      url: '/auth/token',
      payload: { grant_type: 'refresh_token', refresh_token: token },
    });
  }

  async function me(token: string) {
    return app.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { authorization: `Bearer ${token}` },
    });
  }

  it('grants from a session: an ES256 JWT with kid and audience rampart, verifiable with the JWKS', async () => {
    const who = await person();
    const res = await grant(app, who);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json<Tokens>();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 600, audience: 'rampart' });
    expect(body.refresh_token).toMatch(/^rmr_[A-Za-z0-9_-]{43}$/);
    const header = jose.decodeProtectedHeader(body.access_token);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const jwks = await app.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    const set = jose.createLocalJWKSet(jwks.json<jose.JSONWebKeySet>());
    const { payload } = await jose.jwtVerify(body.access_token, set, {
      issuer: PUBLIC_URL,
      audience: 'rampart',
    });
    expect(payload).toMatchObject({ sub: who.userId, tid: tenant.id });
    expect(jwks.body).not.toContain('"d"');
    const called = await me(body.access_token);
    expect(called.statusCode, called.body).toBe(200);
    expect(called.json()).toMatchObject({
      tenant: { id: tenant.id },
      principal: { type: 'user', userId: who.userId, role: 'member' },
    });
    // Only a keyed hash of the refresh token is stored; the private key only encrypted.
    const stored = await t.asOwner((q) =>
      q.query<{ row: string }>(
        `SELECT r::text AS row FROM refresh_tokens r UNION ALL SELECT k::text FROM token_signing_keys k`,
      ),
    );
    const text = stored.rows.map((r) => r.row).join();
    expect(text).not.toContain(body.refresh_token);
    expect(text).not.toContain('PRIVATE KEY');
  });

  it('refuses the session grant without the CSRF defence, and without a session', async () => {
    const who = await person();
    const noCsrf = await app.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: { cookie: who.cookie, origin: 'https://evil.example' },
      payload: { grant_type: 'session' },
    });
    expect(noCsrf.statusCode).toBe(403);
    const none = await app.app.inject({
      method: 'POST',
      url: '/auth/token',
      payload: { grant_type: 'session' },
    });
    expect(none.statusCode).toBe(400);
    expect(none.json()).toMatchObject({ code: 'invalid_grant' });
    const target = await grant(app, who, { resource: 'https://elsewhere.example/mcp' });
    expect(target.statusCode).toBe(400);
    expect(target.json()).toMatchObject({ code: 'invalid_target' });
  });

  it('rotates refresh tokens; a rotated-out one revokes the whole family', async () => {
    const who = await person();
    const first = (await grant(app, who)).json<Tokens>();
    const second = await refresh(app, first.refresh_token);
    expect(second.statusCode, second.body).toBe(200);
    const rotated = second.json<Tokens>();
    expect(rotated.refresh_token).not.toBe(first.refresh_token);
    expect((await me(rotated.access_token)).statusCode).toBe(200);
    const third = (await refresh(app, rotated.refresh_token)).json<Tokens>();
    // The first token again (no grace here): the family is revoked, every token of it stops.
    const reuse = await refresh(app, first.refresh_token);
    expect(reuse.statusCode).toBe(400);
    expect(reuse.json()).toMatchObject({ code: 'invalid_grant' });
    expect((await refresh(app, third.refresh_token)).statusCode).toBe(400);
    const refused = await me(third.access_token);
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toMatchObject({ code: 'invalid_credentials' });
    const { rows } = await t.asOwner((q) =>
      q.query<{ action: string; outcome: string }>(
        `SELECT action, outcome FROM audit_events WHERE tenant_id = $1 AND actor_id = (SELECT pseudonym
              FROM audit_subject_keys WHERE tenant_id = $1 AND kind = 'user' AND subject = $2::text)
            AND action LIKE '%token%' ORDER BY seq`,
        [tenant.id, who.userId],
      ),
    );
    expect(rows.map((r) => `${r.action}:${r.outcome}`)).toEqual([
      'token.issued:success',
      'token.refreshed:success',
      'token.refreshed:success',
      'refresh_token.reused:denied',
    ]);
  });

  it('lets a client that retried reuse its refresh token within the grace period', async () => {
    const who = await person();
    const first = (await grant(lenient, who)).json<Tokens>();
    const a = await refresh(lenient, first.refresh_token);
    const b = await refresh(lenient, first.refresh_token);
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    expect((await me(b.json<Tokens>().access_token)).statusCode).toBe(200);
  });

  it('stops access tokens when the user’s sessions are revoked', async () => {
    const who = await person();
    const tokens = (await grant(app, who)).json<Tokens>();
    expect((await me(tokens.access_token)).statusCode).toBe(200);
    const revoke = await app.app.inject({
      method: 'DELETE',
      url: `/v1/users/${who.userId}/sessions`,
      headers: { authorization: `Bearer ${tenant.ownerKey}` },
    });
    expect(revoke.statusCode, revoke.body).toBeLessThan(300);
    expect((await me(tokens.access_token)).statusCode).toBe(401);
    expect((await refresh(app, tokens.refresh_token)).statusCode).toBe(400);
  });

  it('mints for another audience, which the API refuses; verification checks the audience', async () => {
    const who = await person();
    const { tokens } = app.tokens;
    const familyId = (
      await t.asOwner((q) =>
        q.query<{ id: string }>(
          `INSERT INTO token_families (tenant_id, user_id, audience, expires_at)
           VALUES ($1, $2, 'https://mcp.example/mcp', now() + interval '1 day') RETURNING id`,
          [tenant.id, who.userId],
        ),
      )
    ).rows[0]?.id;
    if (!familyId) throw new Error('no family');
    const minted = await tokens.mint({
      tenantId: tenant.id,
      userId: who.userId,
      familyId,
      audience: 'https://mcp.example/mcp',
    });
    const ok = await tokens.verify(minted.token, 'https://mcp.example/mcp');
    expect(ok).toMatchObject({ claims: { userId: who.userId, familyId } });
    expect(await tokens.verify(minted.token, 'rampart')).toEqual({ refused: 'wrong_audience' });
    expect((await me(minted.token)).statusCode).toBe(401);
  });

  it('refuses forged tokens: alg none, an unknown kid, a foreign signature', async () => {
    const who = await person();
    const good = (await grant(app, who)).json<Tokens>().access_token;
    const [h, p] = good.split('.');
    const none = `${jose.base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt' }))}.${p}.`;
    expect((await me(none)).statusCode).toBe(401);
    const { privateKey } = await jose.generateKeyPair('ES256');
    const header = jose.decodeProtectedHeader(good);
    const claims = jose.decodeJwt(good);
    for (const kid of [header.kid ?? '', 'unknown-kid-000']) {
      const forged = await new jose.SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .sign(privateKey);
      expect((await me(forged)).statusCode).toBe(401);
    }
    expect(h).toBeTruthy();
  });

  it('rotates signing keys with overlap: the new key signs, old tokens still verify', async () => {
    const who = await person();
    const before = (await grant(app, who)).json<Tokens>();
    const oldKid = jose.decodeProtectedHeader(before.access_token).kid;
    const { kid, retired } = await app.tokens.signingKeys.rotate();
    expect(retired).toContain(oldKid);
    const after = (await grant(app, who)).json<Tokens>();
    expect(jose.decodeProtectedHeader(after.access_token).kid).toBe(kid);
    const jwks = (await app.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json<{
      keys: { kid: string }[];
    }>();
    expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([kid, oldKid]));
    expect((await me(before.access_token)).statusCode).toBe(200);
    // Another instance learns the new key on the first token it has not seen the kid of.
    const other = await lenient.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { authorization: `Bearer ${after.access_token}` },
    });
    expect(other.statusCode, other.body).toBe(200);
  });
});

describe.each(testDrivers())(
  'identity: access-token revocation across instances (%s)',
  (driver) => {
    let t: TestDatabase;
    let a: TestApp;
    let b: TestApp;
    const settings = { ...PEOPLE_ENV, API_KEY_CACHE_TTL_MS: '60000' };

    beforeAll(async () => {
      t = await createTestDatabase(driver);
      a = await createTestApp(t.db, settings);
      // On PostgreSQL, B is another pool on the same database, as another replica would be.
      b = await createTestApp(driver === 'postgres' ? await t.openReplica() : t.db, settings);
    });
    afterAll(async () => {
      await b?.close();
      await a?.close();
      await t?.close();
    });

    it.runIf(driver === 'postgres')(
      'revoking the sessions on A stops an access token cached on B within 5 s',
      async () => {
        const tenant = await a.createTenant();
        const who = await signedInMember(a, tenant, 'replica@example.com');
        const issued = await a.app.inject({
          method: 'POST',
          url: '/auth/token',
          headers: who.writeHeaders,
          payload: { grant_type: 'session' },
        });
        const access = issued.json<Tokens>().access_token;
        const onB = () =>
          b.app.inject({
            method: 'GET',
            url: '/v1/me',
            headers: { authorization: `Bearer ${access}` },
          });
        expect((await onB()).statusCode).toBe(200);
        const revoke = await a.app.inject({
          method: 'DELETE',
          url: `/v1/users/${who.userId}/sessions`,
          headers: { authorization: `Bearer ${tenant.ownerKey}` },
        });
        expect(revoke.statusCode).toBeLessThan(300);
        const refused = await eventually(async () => (await onB()).statusCode === 401, 5000);
        expect(refused, 'B dropped its cached grant on the notification').toBe(true);
      },
    );
  },
);
