import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { PEOPLE_ENV, PUBLIC_URL, signedInMember, type SignedIn } from './helpers/people.js';

/** The resource URI /mcp's tokens are minted for: PUBLIC_URL + /mcp. */
const RESOURCE = `${PUBLIC_URL}/mcp`;

interface Granted {
  access_token: string;
  refresh_token: string;
  audience: string;
}

describe.each(testDrivers())('/mcp with Rampart access tokens for its resource (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let tenant: { id: string; slug: string; ownerKey: string };
  let n = 0;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, { ...PEOPLE_ENV, API_KEY_CACHE_TTL_MS: '0' });
    tenant = await app.createTenant();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  async function person(role = 'member'): Promise<SignedIn> {
    n += 1;
    return signedInMember(app, tenant, `mcp-token${n}@example.com`, role);
  }

  async function grant(who: SignedIn, extra: Record<string, string> = {}): Promise<Granted> {
    const res = await app.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: who.writeHeaders,
      payload: { grant_type: 'session', ...extra },
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<Granted>();
  }

  /** tools/list on /mcp with `token` as the bearer (the 2025 era's stateless POST). */
  function listTools(token: string) {
    return app.app.inject({
      method: 'POST',
      url: '/mcp',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
      },
      payload: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
  }

  /** The tool names of a tools/list answer (JSON or a one-event SSE stream). */
  function toolNames(body: string): string[] {
    const json = body.startsWith('{') ? body : (/^data: (.*)$/m.exec(body)?.[1] ?? '{}');
    const parsed = JSON.parse(json) as { result?: { tools?: { name: string }[] } };
    return (parsed.result?.tools ?? []).map((x) => x.name).sort();
  }

  it('accepts a token minted for its resource, as the person it names', async () => {
    const who = await person('member');
    const granted = await grant(who, { resource: RESOURCE });
    expect(granted.audience).toBe(RESOURCE);
    const res = await listTools(granted.access_token);
    expect(res.statusCode, res.body).toBe(200);
    const names = toolNames(res.body);
    // A member's tools: documents and SQL; running agents is a member's too.
    expect(names).toContain('search_documents');
    expect(names).toContain('sql_query');
    // The same token is no good for the REST API: its audience is /mcp's.
    const rest = await app.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { authorization: `Bearer ${granted.access_token}` },
    });
    expect(rest.statusCode).toBe(401);
  });

  it("refuses Rampart's tokens for another audience, expired ones and revoked ones, with 401", async () => {
    const who = await person('member');
    const api = await grant(who);
    expect(api.audience).toBe('rampart');
    const wrong = await listTools(api.access_token);
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ code: 'invalid_token' });
    expect(wrong.headers['www-authenticate']).toMatch(
      /resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/mcp", error="invalid_token"/,
    );

    const granted = await grant(who, { resource: RESOURCE });
    expect((await listTools(granted.access_token)).statusCode).toBe(200);
    // The same grant and person, signed with a lifetime already over.
    const [, payload] = granted.access_token.split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as {
      tid: string;
      sub: string;
      sid: string;
    };
    const expired = await app.tokens.tokens.mint(
      { tenantId: claims.tid, userId: claims.sub, familyId: claims.sid, audience: RESOURCE },
      -120,
    );
    expect((await listTools(expired.token)).statusCode).toBe(401);

    // Signing out revokes the grant the token came from.
    const out = await app.app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: who.writeHeaders,
    });
    expect(out.statusCode, out.body).toBeLessThan(400);
    expect((await listTools(granted.access_token)).statusCode).toBe(401);
  });

  it('refuses to mint for a resource it does not serve', async () => {
    const who = await person('member');
    const res = await app.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: who.writeHeaders,
      payload: { grant_type: 'session', resource: 'https://elsewhere.example/mcp' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'invalid_target' });
  });
});
