import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import {
  Client,
  StreamableHTTPClientTransport,
  UnauthorizedError,
  auth,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
} from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, ROOT_TOKEN, type TestApp } from './helpers/app.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { signedInMember, type SignedIn } from './helpers/people.js';

/** A free loopback port: PUBLIC_URL (the issuer and the resource) must name the port served. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const addr = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return typeof addr === 'object' && addr ? addr.port : 0;
}

/** An MCP client's OAuth state, kept in memory as a desktop client would keep it on disk. */
class MemoryProvider implements OAuthClientProvider {
  info: StoredOAuthClientInformation | undefined;
  saved: StoredOAuthTokens | undefined;
  discovery: OAuthDiscoveryState | undefined;
  verifier = '';
  authorizationUrl: URL | undefined;

  constructor(
    readonly redirect: string,
    readonly authMethod: 'none' | 'client_secret_basic' = 'none',
  ) {}

  get redirectUrl(): string {
    return this.redirect;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'Test IDE',
      redirect_uris: [this.redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: this.authMethod,
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: StoredOAuthClientInformation) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: StoredOAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
  discoveryState() {
    return this.discovery;
  }
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.discovery = state;
  }
}

const CALLBACK = 'http://127.0.0.1:9/callback';

function hiddenFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    out[m[1] ?? ''] = (m[2] ?? '').replaceAll('&amp;', '&').replaceAll('&quot;', '"');
  return out;
}

/** The CSRF cookie's value (on a loopback PUBLIC_URL the cookies carry no __Host- prefix). */
function csrfOf(cookie: string): string {
  return /(?:^|; )rampart_csrf=([^;]+)/.exec(cookie)?.[1] ?? '';
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

describe.each(testDrivers())('Rampart as the OAuth authorization server of /mcp (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let base: string;
  let tenant: { id: string; slug: string; ownerKey: string };
  let n = 0;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    app = await createTestApp(
      t.db,
      {
        PUBLIC_URL: base,
        PORT: String(port),
        API_KEY_CACHE_TTL_MS: '0',
        RAMPART_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'),
        OAUTH_REGISTRATIONS_PER_MINUTE: '1000',
      },
      { redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined },
    );
    await app.app.listen({ host: '127.0.0.1', port });
    tenant = await app.createTenant();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  /** The actions of the tenant's audit chain. */
  async function actions(): Promise<string[]> {
    const { rows } = await t.asOwner((q) =>
      q.query<{ action: string }>(
        'SELECT action FROM audit_events WHERE tenant_id = $1 ORDER BY seq',
        [tenant.id],
      ),
    );
    return rows.map((r) => r.action);
  }

  async function person(role = 'member'): Promise<SignedIn> {
    n += 1;
    return signedInMember(app, tenant, `oauth-as${n}@example.com`, role);
  }

  async function register(body: Record<string, unknown>) {
    const res = await fetch(`${base}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, res };
  }

  async function publicClient(redirect = CALLBACK): Promise<string> {
    const r = await register({ redirect_uris: [redirect], token_endpoint_auth_method: 'none' });
    expect(r.status).toBe(201);
    return String(r.body.client_id);
  }

  /** Opens the consent page as `who` and answers it; the redirect's URL. */
  async function consent(
    authorizationUrl: string | URL,
    who: SignedIn,
    decision: 'approve' | 'deny' = 'approve',
    tamper: (fields: Record<string, string>) => void = () => {},
  ): Promise<URL> {
    const page = await fetch(authorizationUrl, {
      headers: { cookie: who.cookie },
      redirect: 'manual',
    });
    expect(page.status, await page.clone().text()).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const fields = hiddenFields(await page.text());
    tamper(fields);
    const answer = await fetch(`${base}/oauth/authorize`, {
      method: 'POST',
      headers: {
        cookie: who.cookie,
        origin: base,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ ...fields, decision }).toString(),
      redirect: 'manual',
    });
    expect(answer.status, await answer.clone().text()).toBe(303);
    return new URL(answer.headers.get('location') ?? '');
  }

  function authorizeUrl(clientId: string, extra: Record<string, string> = {}): string {
    const q = new URLSearchParams({
      client_id: clientId,
      redirect_uri: CALLBACK,
      response_type: 'code',
      code_challenge: s256('v'.repeat(43)),
      code_challenge_method: 'S256',
      state: 'st-1',
      ...extra,
    });
    return `${base}/oauth/authorize?${q.toString()}`;
  }

  async function token(form: Record<string, string>, headers: Record<string, string> = {}) {
    const res = await fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
    return {
      status: res.status,
      body: (await res.json()) as Record<string, string>,
      cache: res.headers.get('cache-control'),
    };
  }

  /** A code for `clientId` approved by `who`, with the verifier 'v'×43. */
  async function code(clientId: string, who: SignedIn): Promise<string> {
    const back = await consent(authorizeUrl(clientId), who);
    return back.searchParams.get('code') ?? '';
  }

  /** The token request of a public client redeeming `c` (verifier 'v'×43, CALLBACK); `extra` overrides. */
  function redeem(c: string, clientId: string, extra: Record<string, string> = {}) {
    return token({
      grant_type: 'authorization_code',
      code: c,
      client_id: clientId,
      code_verifier: 'v'.repeat(43),
      redirect_uri: CALLBACK,
      ...extra,
    });
  }

  it('an MCP SDK client discovers, registers, is authorized by a person, lists their tools and refreshes', async () => {
    const who = await person('viewer');
    const provider = new MemoryProvider(CALLBACK);
    const first = new Client(
      { name: 'ide', version: '1' },
      { versionNegotiation: { mode: 'legacy' } },
    );
    await expect(
      first.connect(
        new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { authProvider: provider }),
      ),
    ).rejects.toBeInstanceOf(UnauthorizedError);
    // Discovery from the 401 → RFC 9728 → RFC 8414, then RFC 7591 registration (public client).
    expect(provider.info?.client_id).toMatch(/^rmc_/);
    expect(provider.discovery?.authorizationServerUrl).toContain(base);
    const url = provider.authorizationUrl;
    expect(url?.pathname).toBe('/oauth/authorize');
    expect(url?.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url?.searchParams.get('resource')).toBe(`${base}/mcp`);

    const back = await consent(url ?? '', who);
    expect(back.origin + back.pathname).toBe(CALLBACK);
    expect(back.searchParams.get('iss')).toBe(base);
    expect(back.searchParams.get('state')).toBe(url?.searchParams.get('state'));
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      authProvider: provider,
    });
    await transport.finishAuth(back.searchParams);
    expect(provider.saved?.refresh_token).toMatch(/^rmr_/);
    expect(provider.saved?.scope).toBe('mcp');

    const client = new Client(
      { name: 'ide', version: '1' },
      { versionNegotiation: { mode: 'legacy' } },
    );
    await client.connect(transport);
    const { tools } = await client.listTools();
    // A viewer's tools: the four document tools, nothing more.
    expect(tools.map((x) => x.name).sort()).toEqual([
      'ask',
      'get_document',
      'list_documents',
      'search_documents',
    ]);
    await client.close();

    // The access token is for /mcp only: the REST API refuses it (wrong audience).
    const access = provider.saved?.access_token ?? '';
    const rest = await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${access}` } });
    expect(rest.status).toBe(401);

    // Refresh through the SDK: a new access token and a rotated refresh token.
    const before = provider.saved;
    expect(await auth(provider, { serverUrl: `${base}/mcp` })).toBe('AUTHORIZED');
    expect(provider.saved?.access_token).not.toBe(before?.access_token);
    expect(provider.saved?.refresh_token).not.toBe(before?.refresh_token);
    const again = new Client(
      { name: 'ide', version: '1' },
      { versionNegotiation: { mode: 'legacy' } },
    );
    await again.connect(
      new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { authProvider: provider }),
    );
    expect((await again.listTools()).tools.length).toBe(4);
    await again.close();

    // The tenant's audit log has the consent and the grant.
    const logged = await actions();
    expect(logged).toContain('oauth.authorized');
    expect(logged).toContain('token.issued');
  });

  it('publishes RFC 8414 metadata and lists itself in the resource metadata', async () => {
    const meta = (await (
      await fetch(`${base}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({
      issuer: base,
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      registration_endpoint: `${base}/oauth/register`,
      revocation_endpoint: `${base}/oauth/revoke`,
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      authorization_response_iss_parameter_supported: true,
    });
    expect(meta.token_endpoint_auth_methods_supported).toContain('none');
    const prm = (await (
      await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)
    ).json()) as Record<string, unknown>;
    expect(prm.authorization_servers).toEqual([base]);
  });

  it('registration: loopback http and https accepted; other http and fragments refused (RFC 7591 errors)', async () => {
    for (const uri of ['http://localhost:3000/cb', 'http://[::1]/cb', 'https://app.example/cb'])
      expect(
        (await register({ redirect_uris: [uri], token_endpoint_auth_method: 'none' })).status,
      ).toBe(201);
    for (const uri of [
      'http://evil.example/cb',
      'https://app.example/cb#frag',
      'myapp:/cb',
      'javascript:alert(1)',
    ]) {
      const r = await register({ redirect_uris: [uri] });
      expect(r.status, uri).toBe(400);
      expect(r.body.error, uri).toBe('invalid_redirect_uri');
    }
    const bad = await register({ redirect_uris: [CALLBACK], grant_types: ['client_credentials'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_client_metadata');
    // A confidential client gets a secret once; the token endpoint wants it.
    const conf = await register({ redirect_uris: [CALLBACK], client_name: 'Server app' });
    expect(conf.status).toBe(201);
    expect(String(conf.body.client_secret)).toMatch(/^rmcs_/);
    expect(conf.body.token_endpoint_auth_method).toBe('client_secret_basic');
    const who = await person();
    const id = String(conf.body.client_id);
    const c = await code(id, who);
    const noSecret = await redeem(c, id);
    expect(noSecret.status).toBe(401);
    expect(noSecret.body.error).toBe('invalid_client');
    const basic = Buffer.from(`${id}:${String(conf.body.client_secret)}`).toString('base64');
    const ok = await token(
      {
        grant_type: 'authorization_code',
        code: c,
        code_verifier: 'v'.repeat(43),
        redirect_uri: CALLBACK,
      },
      { authorization: `Basic ${basic}` },
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.cache).toBe('no-store');
    // The platform's own chain records the registration (no tenant owns a client).
    const { rows } = await t.asOwner((q) =>
      q.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = '00000000-0000-0000-0000-000000000000'
            AND action = 'oauth_client.registered' AND target_id = $1`,
        [id],
      ),
    );
    expect(rows[0]?.n).toBe(1);
  });

  it('a wrong code_verifier spends the code; a reused code revokes what it issued', async () => {
    const who = await person();
    const id = await publicClient();
    const c1 = await code(id, who);
    const wrong = await redeem(c1, id, { code_verifier: 'w'.repeat(43) });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toBe('invalid_grant');
    expect(wrong.cache).toBe('no-store');
    // Spent: the right verifier does not bring it back.
    const late = await redeem(c1, id);
    expect(late.body.error).toBe('invalid_grant');

    const c2 = await code(id, who);
    const good = await redeem(c2, id);
    expect(good.status).toBe(200);
    const mcp = (bearer: string) =>
      fetch(`${base}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${bearer}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    expect((await mcp(good.body.access_token ?? '')).status).toBe(200);
    const replay = await redeem(c2, id);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    // What the code issued is revoked: its access token and its refresh token.
    expect((await mcp(good.body.access_token ?? '')).status).toBe(401);
    const refresh = await token({
      grant_type: 'refresh_token',
      refresh_token: good.body.refresh_token ?? '',
      client_id: id,
    });
    expect(refresh.body.error).toBe('invalid_grant');
    expect(await actions()).toContain('authorization_code.reused');
  });

  it('the code is bound to its redirect_uri and client; unknown clients are refused', async () => {
    const who = await person();
    const id = await publicClient();
    const other = await publicClient();
    const c = await code(id, who);
    const mismatch = await redeem(c, id, { redirect_uri: 'http://127.0.0.1:9/other' });
    expect(mismatch.body.error).toBe('invalid_grant');
    const c2 = await code(id, who);
    const foreign = await redeem(c2, other);
    expect(foreign.body.error).toBe('invalid_grant');
    // The rightful client still redeems it: another client's attempt did not spend it.
    const ok = await redeem(c2, id);
    expect(ok.status).toBe(200);
    const unknown = await token({
      grant_type: 'authorization_code',
      code: c2,
      client_id: `rmc_${'A'.repeat(22)}`,
      code_verifier: 'v'.repeat(43),
    });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toBe('invalid_client');
    const grant = await token({ grant_type: 'password', client_id: id });
    expect(grant.body.error).toBe('unsupported_grant_type');

    // At the authorization endpoint an unknown client or a redirect_uri not registered is shown, never redirected.
    const who2 = { cookie: who.cookie };
    for (const url of [
      authorizeUrl(`rmc_${'B'.repeat(22)}`),
      authorizeUrl(id, { redirect_uri: 'http://127.0.0.1:9/elsewhere' }),
    ]) {
      const res = await fetch(url, { headers: who2, redirect: 'manual' });
      expect(res.status, url).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
  });

  it('refuses missing PKCE, plain PKCE and a resource of another audience by redirecting with the error', async () => {
    const who = await person();
    const id = await publicClient();
    const cases: [Record<string, string>, string][] = [
      [{ code_challenge: '' }, 'invalid_request'],
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ resource: 'https://elsewhere.example/mcp' }, 'invalid_target'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
    ];
    for (const [extra, error] of cases) {
      const url = new URL(authorizeUrl(id, extra));
      if (extra.code_challenge === '') url.searchParams.delete('code_challenge');
      const res = await fetch(url, { headers: { cookie: who.cookie }, redirect: 'manual' });
      expect(res.status, JSON.stringify(extra)).toBe(302);
      const back = new URL(res.headers.get('location') ?? '');
      expect(back.origin + back.pathname).toBe(CALLBACK);
      expect(back.searchParams.get('error')).toBe(error);
      expect(back.searchParams.get('state')).toBe('st-1');
      expect(back.searchParams.get('iss')).toBe(base);
    }
    // A resource for another audience at the token endpoint is refused too.
    const c = await code(id, who);
    const target = await token({
      grant_type: 'authorization_code',
      code: c,
      client_id: id,
      code_verifier: 'v'.repeat(43),
      redirect_uri: CALLBACK,
      resource: `${base}/v1`,
    });
    expect(target.body.error).toBe('invalid_target');
  });

  it('consent: no session goes to the console sign-in and back; a forged form is refused; deny redirects access_denied', async () => {
    const who = await person();
    const id = await publicClient();
    const anonymous = await fetch(authorizeUrl(id), { redirect: 'manual' });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get('cache-control')).toBe('no-store');
    // The console's sign-in (same origin, a path only), returning to this very request.
    const signIn = new URL(anonymous.headers.get('location') ?? '', base);
    expect(signIn.origin + signIn.pathname).toBe(`${base}/`);
    const next = signIn.searchParams.get('next') ?? '';
    expect(`${base}${next}`).toBe(authorizeUrl(id));
    expect(await anonymous.text()).not.toContain('csrf');

    const page = await fetch(authorizeUrl(id), { headers: { cookie: who.cookie } });
    const fields = hiddenFields(await page.text());
    const post = (body: Record<string, string>, origin = base) =>
      fetch(`${base}/oauth/authorize`, {
        method: 'POST',
        headers: {
          cookie: who.cookie,
          origin,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams(body).toString(),
        redirect: 'manual',
      });
    const { csrf: _csrf, ...withoutCsrf } = fields;
    for (const res of [
      await post({ ...withoutCsrf, decision: 'approve' }),
      await post({
        ...withoutCsrf,
        csrf: randomBytes(32).toString('base64url'),
        decision: 'approve',
      }),
      await post({ ...fields, decision: 'approve' }, 'https://evil.example'),
    ]) {
      expect(res.status).toBe(403);
      expect(((await res.json()) as { code: string }).code).toBe('csrf_rejected');
    }
    const denied = await consent(authorizeUrl(id), who, 'deny');
    expect(denied.searchParams.get('error')).toBe('access_denied');
    expect(denied.searchParams.get('code')).toBeNull();
  });

  it("revocation (RFC 7009) ends the family; another client's refresh token and a deactivated member's are refused", async () => {
    const who = await person();
    const id = await publicClient();
    const issue = async () => {
      const res = await redeem(await code(id, who), id);
      expect(res.status).toBe(200);
      return res.body;
    };
    const a = await issue();
    const revoke = await fetch(`${base}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: a.refresh_token ?? '',
        token_type_hint: 'refresh_token',
        client_id: id,
      }).toString(),
    });
    expect(revoke.status).toBe(200);
    const refused = await token({
      grant_type: 'refresh_token',
      refresh_token: a.refresh_token ?? '',
      client_id: id,
    });
    expect(refused.body.error).toBe('invalid_grant');
    const listed = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${a.access_token ?? ''}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(listed.status).toBe(401);
    // An unknown token is answered the same way (nothing learnt).
    const unknown = await fetch(`${base}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'rmr_nothing', client_id: id }).toString(),
    });
    expect(unknown.status).toBe(200);

    // A refresh token of another client cannot be refreshed by this one.
    const b = await issue();
    const other = await publicClient();
    const stolen = await token({
      grant_type: 'refresh_token',
      refresh_token: b.refresh_token ?? '',
      client_id: other,
    });
    expect(stolen.body.error).toBe('invalid_grant');

    // Deactivating the member (SCIM active=false reuses this flag) stops refresh at once.
    await t.asOwner((q) =>
      q.query('UPDATE memberships SET active = false WHERE tenant_id = $1 AND user_id = $2', [
        tenant.id,
        who.userId,
      ]),
    );
    const off = await token({
      grant_type: 'refresh_token',
      refresh_token: b.refresh_token ?? '',
      client_id: id,
    });
    expect(off.body.error).toBe('invalid_grant');
  });

  it("connected applications: a person lists and revokes their own grants, nobody else's", async () => {
    const who = await person();
    const other = await person();
    const reg = await register({
      redirect_uris: [CALLBACK, 'https://ide.example/cb'],
      token_endpoint_auth_method: 'none',
      client_name: 'Grant IDE',
    });
    const id = String(reg.body.client_id);
    const issued = await redeem(await code(id, who), id);
    expect(issued.status).toBe(200);
    const list = async (s: SignedIn) => {
      const res = await fetch(`${base}/v1/me/oauth-grants`, { headers: { cookie: s.cookie } });
      expect(res.status).toBe(200);
      return ((await res.json()) as { data: Record<string, unknown>[] }).data;
    };
    const [grant, ...rest] = await list(who);
    expect(rest).toEqual([]);
    expect(grant).toMatchObject({
      clientId: id,
      clientName: 'Grant IDE',
      redirectHosts: ['127.0.0.1:9', 'ide.example'],
      lastRefreshedAt: null,
    });
    const grantId = String(grant?.id);
    // A refresh is the last use the list can show.
    const refreshed = await token({
      grant_type: 'refresh_token',
      refresh_token: issued.body.refresh_token ?? '',
      client_id: id,
    });
    expect(refreshed.status).toBe(200);
    expect((await list(who))[0]?.lastRefreshedAt).toEqual(expect.any(String));
    // Another person of the tenant sees nothing of it and cannot revoke it; nor can a key.
    expect(await list(other)).toEqual([]);
    const writes = (s: SignedIn) => ({
      cookie: s.cookie,
      origin: base,
      'x-csrf-token': s.csrf || csrfOf(s.cookie),
    });
    const del = (headers: Record<string, string>) =>
      fetch(`${base}/v1/me/oauth-grants/${grantId}`, { method: 'DELETE', headers });
    expect((await del(writes(other))).status).toBe(404);
    expect((await del({ authorization: `Bearer ${tenant.ownerKey}` })).status).toBe(404);
    const owner = await fetch(`${base}/v1/me/oauth-grants`, {
      headers: { authorization: `Bearer ${tenant.ownerKey}` },
    });
    expect(((await owner.json()) as { data: unknown[] }).data).toEqual([]);
    // The person revokes it: the refresh token and the access token stop working at once.
    const own = await del(writes(who));
    expect(own.status).toBe(204);
    expect(await list(who)).toEqual([]);
    const after = await token({
      grant_type: 'refresh_token',
      refresh_token: refreshed.body.refresh_token ?? '',
      client_id: id,
    });
    expect(after.body.error).toBe('invalid_grant');
    const mcp = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${refreshed.body.access_token ?? ''}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(mcp.status).toBe(401);
    // Revoked already: a second revocation finds nothing.
    expect((await del(writes(who))).status).toBe(404);
    expect(await actions()).toContain('oauth_grant.revoked');
  });

  it('an offboarded (disabled) tenant: its OAuth tokens are refused at once', async () => {
    const other = await app.createTenant();
    const who = await signedInMember(app, other, 'offboarded@example.com', 'member');
    const id = await publicClient();
    const back = await consent(authorizeUrl(id), who);
    const issued = await redeem(back.searchParams.get('code') ?? '', id);
    expect(issued.status).toBe(200);
    const list = () =>
      fetch(`${base}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${issued.body.access_token ?? ''}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    expect((await list()).status).toBe(200);
    const off = await app.app.inject({
      method: 'DELETE',
      url: `/admin/v1/tenants/${other.id}`,
      headers: { authorization: `Bearer ${ROOT_TOKEN}` },
    });
    expect(off.statusCode, off.body).toBe(202);
    expect((await list()).status).toBe(401);
    const refreshed = await token({
      grant_type: 'refresh_token',
      refresh_token: issued.body.refresh_token ?? '',
      client_id: id,
    });
    expect(refreshed.body.error).toBe('invalid_grant');
  });

  it('limits registrations per client address (OAUTH_REGISTRATIONS_PER_MINUTE)', async () => {
    const strict = await createTestApp(t.db, { OAUTH_REGISTRATIONS_PER_MINUTE: '2' });
    try {
      const statuses: number[] = [];
      let last:
        { statusCode: number; headers: Record<string, unknown>; json(): unknown } | undefined;
      for (let i = 0; i < 3; i++) {
        last = await strict.app.inject({
          method: 'POST',
          url: '/oauth/register',
          payload: { redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' },
        });
        statuses.push(last.statusCode);
      }
      expect(statuses[2]).toBe(429);
      expect(last?.headers['retry-after']).toBeDefined();
      expect(last?.json()).toMatchObject({ error: 'temporarily_unavailable' });
    } finally {
      await strict.close();
    }
  });

  it("a client's refresh token is refused at /auth/token, and a session's at /oauth/token", async () => {
    const who = await person();
    const id = await publicClient();
    const issued = await redeem(await code(id, who), id);
    expect(issued.status).toBe(200);
    const viaSession = await app.app.inject({
      method: 'POST',
      url: '/auth/token',
      payload: { grant_type: 'refresh_token', refresh_token: issued.body.refresh_token },
    });
    expect(viaSession.statusCode).toBe(400);
    expect(viaSession.json()).toMatchObject({ code: 'invalid_grant' });
    const session = await app.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: { cookie: who.cookie, origin: base, 'x-csrf-token': who.csrf || csrfOf(who.cookie) },
      payload: { grant_type: 'session', resource: `${base}/mcp` },
    });
    expect(session.statusCode, session.body).toBe(200);
    const foreign = await token({
      grant_type: 'refresh_token',
      refresh_token: session.json<{ refresh_token: string }>().refresh_token,
      client_id: id,
    });
    expect(foreign.body.error).toBe('invalid_grant');
  });
});
