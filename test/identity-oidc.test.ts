import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { eventually } from './helpers/identity-api.js';
import { signInAtIdp, startIdp, type TestIdp } from './helpers/oidc-idp.js';

const PUBLIC_URL = 'https://rampart.test';
const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
const ENV = { PUBLIC_URL, RAMPART_MASTER_KEY: MASTER_KEY, API_KEY_CACHE_TTL_MS: '60000' };
const SESSION = '__Host-rampart_session';
const CSRF = '__Host-rampart_csrf';
const LOGIN = '__Host-rampart_login';

interface Browser {
  /** Rampart's cookies, by name. */
  cookies: Map<string, string>;
}

function cookieHeader(b: Browser): string {
  return [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
}

function takeCookies(b: Browser, setCookie: string | string[] | undefined): void {
  for (const c of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
    const [pair] = c.split(';');
    const eq = pair?.indexOf('=') ?? -1;
    if (!pair || eq < 0) continue;
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (/Max-Age=0/.test(c)) b.cookies.delete(name);
    else b.cookies.set(name, value);
  }
}

describe.each(testDrivers())('identity: OpenID Connect sign-in and sessions (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let idp: TestIdp;
  let tenant: { id: string; slug: string; ownerKey: string };

  async function inject(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    opts: {
      browser?: Browser;
      key?: string;
      headers?: Record<string, string>;
      payload?: unknown;
    } = {},
  ) {
    const res = await app.app.inject({
      method,
      url,
      headers: {
        ...(opts.browser ? { cookie: cookieHeader(opts.browser) } : {}),
        ...(opts.key ? bearer(opts.key) : {}),
        ...opts.headers,
      },
      ...(opts.payload !== undefined ? { payload: opts.payload as Record<string, unknown> } : {}),
    });
    if (opts.browser) takeCookies(opts.browser, res.headers['set-cookie']);
    return res;
  }

  /** GET /auth/:slug/login in a browser: its authorization URL (the login cookie is in the jar). */
  async function startLogin(b: Browser): Promise<URL> {
    const res = await inject('GET', `/auth/${tenant.slug}/login`, { browser: b });
    expect(res.statusCode).toBe(302);
    return new URL(String(res.headers.location));
  }

  async function callback(b: Browser, callbackUrl: string) {
    const u = new URL(callbackUrl);
    return inject('GET', `${u.pathname}${u.search}`, { browser: b });
  }

  /** The whole code flow for `login`; returns the browser, signed in. */
  async function signIn(login: string): Promise<Browser> {
    const b: Browser = { cookies: new Map() };
    const auth = await startLogin(b);
    const back = await signInAtIdp(auth.href, login, `${PUBLIC_URL}/auth/callback`);
    const res = await callback(b, back);
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe(`${PUBLIC_URL}/`);
    return b;
  }

  function csrfHeaders(b: Browser): Record<string, string> {
    return { origin: PUBLIC_URL, 'x-csrf-token': b.cookies.get(CSRF) ?? '' };
  }

  async function me(b: Browser) {
    return inject('GET', '/v1/me', { browser: b });
  }

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, ENV);
    idp = await startIdp(`${PUBLIC_URL}/auth/callback`, `${PUBLIC_URL}/`);
    tenant = await app.createTenant();
    const put = await inject('PUT', '/v1/identity/oidc', {
      key: tenant.ownerKey,
      payload: {
        issuer: idp.issuer,
        clientId: idp.clientId,
        clientSecret: idp.clientSecret,
        scopes: ['openid', 'email', 'profile', 'groups'],
        roleMapping: { 'rampart-admins': 'admin' },
        defaultRole: 'viewer',
      },
    });
    expect(put.statusCode, put.body).toBe(200);
  });
  afterAll(async () => {
    await idp?.close();
    await app?.close();
    await t?.close();
  });

  it('stores the provider owner-only, with the client secret encrypted and never returned', async () => {
    const got = await inject('GET', '/v1/identity/oidc', { key: tenant.ownerKey });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({
      issuer: idp.issuer,
      clientId: idp.clientId,
      clientSecretSet: true,
      redirectUri: `${PUBLIC_URL}/auth/callback`,
      loginUrl: `${PUBLIC_URL}/auth/${tenant.slug}/login`,
      defaultRole: 'viewer',
    });
    expect(got.body).not.toContain(idp.clientSecret);
    const stored = await t.asOwner((q) =>
      q.query<{ row: string }>('SELECT i::text AS row FROM identity_oidc i WHERE tenant_id = $1', [
        tenant.id,
      ]),
    );
    expect(stored.rows[0]?.row).toBeDefined();
    expect(stored.rows[0]?.row).not.toContain(idp.clientSecret);
    const admin = await inject('POST', '/v1/api-keys', {
      key: tenant.ownerKey,
      payload: { name: 'admin', role: 'admin' },
    });
    const adminKey = admin.json<{ secret: string }>().secret;
    const refused = await inject('PUT', '/v1/identity/oidc', {
      key: adminKey,
      payload: { issuer: idp.issuer, clientId: 'x', clientSecret: 'y' },
    });
    expect(refused.statusCode).toBe(403);
    expect((await inject('GET', '/v1/identity/oidc', { key: adminKey })).statusCode).toBe(403);
  });

  it('audits connecting and disconnecting a provider', async () => {
    const other = await app.createTenant();
    const body = { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret };
    expect(
      (await inject('PUT', '/v1/identity/oidc', { key: other.ownerKey, payload: body })).statusCode,
    ).toBe(200);
    expect((await inject('DELETE', '/v1/identity/oidc', { key: other.ownerKey })).statusCode).toBe(
      204,
    );
    expect((await inject('GET', '/v1/identity/oidc', { key: other.ownerKey })).statusCode).toBe(
      404,
    );
    const { rows } = await t.asOwner((q) =>
      q.query<{ action: string; details: string }>(
        `SELECT action, details::text AS details FROM audit_events WHERE tenant_id = $1 AND action LIKE 'oidc_config.%' ORDER BY seq`,
        [other.id],
      ),
    );
    expect(rows.map((r) => r.action)).toEqual(['oidc_config.updated', 'oidc_config.deleted']);
    expect(rows.map((r) => r.details).join()).not.toContain(idp.clientSecret);
  });

  it('refuses an issuer whose discovery document names another issuer', async () => {
    const liar = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          issuer: 'https://elsewhere.example',
          authorization_endpoint: 'https://elsewhere.example/a',
        }),
      );
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    try {
      const port = (liar.address() as AddressInfo).port;
      const other = await app.createTenant();
      const res = await inject('PUT', '/v1/identity/oidc', {
        key: other.ownerKey,
        payload: { issuer: `http://127.0.0.1:${port}`, clientId: 'x', clientSecret: 'y' },
      });
      expect(res.statusCode, res.body).toBe(400);
      expect((await inject('GET', '/v1/identity/oidc', { key: other.ownerKey })).statusCode).toBe(
        404,
      );
    } finally {
      liar.close();
    }
  });

  it('runs the code flow with PKCE, provisions the member just in time and maps groups and role', async () => {
    idp.accounts.set('alice', {
      email: 'alice@example.com',
      groups: ['engineering', 'rampart-admins'],
    });
    const b: Browser = { cookies: new Map() };
    const auth = await startLogin(b);
    expect(auth.origin).toBe(idp.issuer);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(auth.searchParams.get('state')).toBeTruthy();
    expect(auth.searchParams.get('nonce')).toBeTruthy();
    expect(auth.searchParams.get('redirect_uri')).toBe(`${PUBLIC_URL}/auth/callback`);
    expect(b.cookies.has(LOGIN)).toBe(true);
    const back = await signInAtIdp(auth.href, 'alice', `${PUBLIC_URL}/auth/callback`);
    const res = await callback(b, back);
    expect(res.statusCode, res.body).toBe(303);
    const setCookies = [res.headers['set-cookie']].flat().join('\n');
    expect(setCookies).toMatch(
      new RegExp(`${SESSION}=rms_[^;]+; Path=/; Max-Age=\\d+; SameSite=Lax; HttpOnly; Secure`),
    );
    expect(b.cookies.has(LOGIN), 'the sign-in state is single-use').toBe(false);
    const who = await me(b);
    expect(who.statusCode, who.body).toBe(200);
    const body = who.json<{ tenant: { id: string }; principal: Record<string, unknown> }>();
    expect(body.tenant.id).toBe(tenant.id);
    expect(body.principal).toMatchObject({
      type: 'user',
      keyId: null,
      role: 'admin',
      groups: ['engineering', 'rampart-admins'],
    });
    const users = await inject('GET', '/v1/users', { key: tenant.ownerKey });
    const alice = users
      .json<{ data: { id: string; email: string; role: string }[] }>()
      .data.find((u) => u.email === 'alice@example.com');
    expect(alice?.role).toBe('admin');
    expect(alice?.id).toBe(body.principal.userId);
    const audit = await t.asOwner((q) =>
      q.query<{ action: string }>(
        `SELECT action FROM audit_events WHERE tenant_id = $1 AND actor_id = (SELECT pseudonym
            FROM audit_subject_keys WHERE tenant_id = $1 AND kind = 'user' AND subject = $2::text) ORDER BY seq`,
        [tenant.id, alice?.id],
      ),
    );
    expect(audit.rows.map((r) => r.action)).toEqual(['user.provisioned', 'session.started']);
  });

  it('applies a changed group on the next sign-in, to the same member and to their open sessions', async () => {
    idp.accounts.set('bob', { email: 'bob@example.com', groups: ['rampart-admins', 'ops'] });
    const first = await signIn('bob');
    const before = (await me(first)).json<{ principal: { userId: string; role: string } }>();
    expect(before.principal.role).toBe('admin');
    idp.accounts.set('bob', { email: 'bob@example.com', groups: ['sales'] });
    const second = await signIn('bob');
    const after = (await me(second)).json<{
      principal: { userId: string; role: string; groups: string[] };
    }>();
    expect(after.principal).toMatchObject({
      userId: before.principal.userId,
      role: 'viewer',
      groups: ['sales'],
    });
    const reached = await eventually(async () => {
      const p = (await me(first)).json<{ principal: { role: string; groups: string[] } }>()
        .principal;
      return p.role === 'viewer' && p.groups.join() === 'sales';
    });
    expect(reached, 'the first session sees the new role and groups').toBe(true);
    const list = await inject('GET', '/v1/sessions', { browser: second });
    const sessions = list.json<{ data: { id: string; current: boolean }[] }>().data;
    expect(sessions).toHaveLength(2);
    expect(sessions.filter((s) => s.current)).toHaveLength(1);
    const other = sessions.find((s) => !s.current);
    const del = await inject('DELETE', `/v1/sessions/${other?.id}`, {
      browser: second,
      headers: csrfHeaders(second),
    });
    expect(del.statusCode, del.body).toBe(204);
    expect((await me(first)).statusCode).toBe(401);
    expect((await me(second)).statusCode).toBe(200);
  });

  it('refuses a cross-site form post carrying a valid session cookie (CSRF)', async () => {
    idp.accounts.set('carol', { email: 'carol@example.com', groups: ['rampart-admins'] });
    const b = await signIn('carol');
    const form = 'name=stolen&role=admin';
    const crossSite = await inject('POST', '/v1/api-keys', {
      browser: b,
      headers: {
        origin: 'https://evil.example',
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: form,
    });
    expect(crossSite.statusCode).toBe(403);
    expect(crossSite.json()).toMatchObject({ code: 'csrf_rejected' });
    const noToken = await inject('POST', '/v1/api-keys', {
      browser: b,
      headers: { origin: PUBLIC_URL },
      payload: { name: 'k', role: 'member' },
    });
    expect(noToken.statusCode).toBe(403);
    const keys = await inject('GET', '/v1/api-keys', { browser: b });
    expect(keys.statusCode).toBe(200);
    expect(keys.json<{ data: { name: string }[] }>().data.map((k) => k.name)).not.toContain(
      'stolen',
    );
    const ok = await inject('POST', '/v1/api-keys', {
      browser: b,
      headers: csrfHeaders(b),
      payload: { name: 'from-the-console', role: 'member' },
    });
    expect(ok.statusCode, ok.body).toBe(201);
  });

  it('signs out: the session ends and the browser goes to the provider (RP-initiated logout)', async () => {
    idp.accounts.set('dave', { email: 'dave@example.com', groups: [] });
    const b = await signIn('dave');
    const session = b.cookies.get(SESSION);
    const out = await inject('POST', '/auth/logout', { browser: b, headers: csrfHeaders(b) });
    expect(out.statusCode, out.body).toBe(303);
    const to = new URL(String(out.headers.location));
    expect(to.origin).toBe(idp.issuer);
    expect(to.searchParams.get('client_id')).toBe(idp.clientId);
    expect(to.searchParams.get('post_logout_redirect_uri')).toBe(`${PUBLIC_URL}/`);
    expect(b.cookies.has(SESSION)).toBe(false);
    const stale: Browser = { cookies: new Map([[SESSION, session ?? '']]) };
    expect((await me(stale)).statusCode).toBe(401);
  });

  it('refuses a tampered state, a replayed code, a wrong nonce, a wrong issuer and a missing sign-in', async () => {
    idp.accounts.set('erin', { email: 'erin@example.com', groups: [] });
    const failures = async () =>
      (
        await t.asOwner((q) =>
          q.query<{ n: string }>(
            `SELECT count(*) AS n FROM audit_events WHERE tenant_id = $1 AND action = 'user.sign_in_failed'`,
            [tenant.id],
          ),
        )
      ).rows[0]?.n;
    const before = Number(await failures());

    // Tampered state.
    let b: Browser = { cookies: new Map() };
    let back = new URL(
      await signInAtIdp((await startLogin(b)).href, 'erin', `${PUBLIC_URL}/auth/callback`),
    );
    back.searchParams.set('state', 'tampered');
    let res = await callback(b, back.href);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'sign_in_failed' });

    // Replayed code: the same callback, cookie and all, a second time.
    b = { cookies: new Map() };
    back = new URL(
      await signInAtIdp((await startLogin(b)).href, 'erin', `${PUBLIC_URL}/auth/callback`),
    );
    const saved = new Map(b.cookies);
    expect((await callback(b, back.href)).statusCode).toBe(303);
    const replay: Browser = { cookies: saved };
    res = await callback(replay, back.href);
    expect(res.statusCode).toBe(401);
    expect(replay.cookies.has(SESSION)).toBe(false);

    // Wrong nonce: login A's request with login B's state and PKCE challenge, completed with B's cookie.
    const a: Browser = { cookies: new Map() };
    const authA = await startLogin(a);
    b = { cookies: new Map() };
    const authB = await startLogin(b);
    const mixed = new URL(authA.href);
    mixed.searchParams.set('state', authB.searchParams.get('state') ?? '');
    mixed.searchParams.set('code_challenge', authB.searchParams.get('code_challenge') ?? '');
    expect(mixed.searchParams.get('nonce')).not.toBe(authB.searchParams.get('nonce'));
    back = new URL(await signInAtIdp(mixed.href, 'erin', `${PUBLIC_URL}/auth/callback`));
    res = await callback(b, back.href);
    expect(res.statusCode).toBe(401);
    expect(b.cookies.has(SESSION)).toBe(false);

    // Wrong issuer in the authorization response (RFC 9207).
    b = { cookies: new Map() };
    back = new URL(
      await signInAtIdp((await startLogin(b)).href, 'erin', `${PUBLIC_URL}/auth/callback`),
    );
    expect(back.searchParams.get('iss')).toBe(idp.issuer);
    back.searchParams.set('iss', 'https://evil.example');
    res = await callback(b, back.href);
    expect(res.statusCode).toBe(401);

    // No sign-in state at all (a callback this browser never started).
    res = await callback({ cookies: new Map() }, back.href);
    expect(res.statusCode).toBe(401);

    expect(Number(await failures())).toBe(before + 4);
  });

  it('ends sessions: idle lifetime, and an admin revoking all of a member’s sessions', async () => {
    idp.accounts.set('frank', { email: 'frank@example.com', groups: [] });
    const idle = await signIn('frank');
    // Never used yet (not cached): its last request was two hours ago, past the 60 min idle lifetime.
    await t.asOwner((q) =>
      q.query(
        `UPDATE sessions SET last_seen_at = now() - interval '2 hours'
          WHERE tenant_id = $1 AND revoked_at IS NULL AND user_id =
            (SELECT id FROM users WHERE email = 'frank@example.com')`,
        [tenant.id],
      ),
    );
    expect((await me(idle)).statusCode).toBe(401);
    const b = await signIn('frank');
    const userId = (await me(b)).json<{ principal: { userId: string } }>().principal.userId;
    const revoked = await inject('DELETE', `/v1/users/${userId}/sessions`, {
      key: tenant.ownerKey,
    });
    expect(revoked.statusCode, revoked.body).toBe(200);
    expect(revoked.json()).toEqual({ revoked: 1 });
    expect((await me(b)).statusCode).toBe(401);
  });

  it.runIf(driver === 'postgres')(
    'a session revoked on instance A is refused by instance B within 5 s',
    async () => {
      const b2 = await createTestApp(await t.openReplica(), ENV);
      try {
        idp.accounts.set('gina', { email: 'gina@example.com', groups: [] });
        const b = await signIn('gina');
        const onB = () =>
          b2.app.inject({ method: 'GET', url: '/v1/me', headers: { cookie: cookieHeader(b) } });
        expect((await onB()).statusCode).toBe(200);
        expect((await onB()).statusCode, 'cached on B').toBe(200);
        const userId = (await me(b)).json<{ principal: { userId: string } }>().principal.userId;
        const del = await inject('DELETE', `/v1/users/${userId}/sessions`, {
          key: tenant.ownerKey,
        });
        expect(del.statusCode).toBe(200);
        expect(await eventually(async () => (await onB()).statusCode === 401, 5000)).toBe(true);
      } finally {
        await b2.close();
      }
    },
  );
});
