import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

const AUDIENCE = 'rampart-api';

describe.each(testDrivers())('identity: external JWT bearer (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let server: Server;
  let issuer: string;
  let key: jose.CryptoKey;
  let publicJwk: jose.JWK;
  let tenant: { id: string; slug: string; ownerKey: string };
  let userId: string;

  async function me(token: string) {
    return app.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
  }

  function token(
    claims: jose.JWTPayload = {},
    opts: { kid?: string; signWith?: jose.CryptoKey; exp?: string | number; sub?: string } = {},
  ): Promise<string> {
    return new jose.SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1' })
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setSubject(opts.sub ?? 'idp-user-1')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '5m')
      .sign(opts.signWith ?? key);
  }

  beforeAll(async () => {
    const pair = await jose.generateKeyPair('RS256', { extractable: true });
    key = pair.privateKey;
    publicJwk = { ...(await jose.exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration')
        res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      else if (req.url === '/jwks') res.end(JSON.stringify({ keys: [publicJwk] }));
      else res.writeHead(404).end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db);
    tenant = await app.createTenant();
    const user = await app.app.inject({
      method: 'POST',
      url: '/v1/users',
      headers: bearer(tenant.ownerKey),
      payload: { email: 'jo@example.com', role: 'member' },
    });
    userId = user.json<{ id: string }>().id;
    // As an OIDC sign-in would have linked them.
    await t.asOwner((q) =>
      q.query(
        'INSERT INTO user_identities (tenant_id, issuer, subject, user_id) VALUES ($1, $2, $3, $4)',
        [tenant.id, issuer, 'idp-user-1', userId],
      ),
    );
    const put = await app.app.inject({
      method: 'PUT',
      url: '/v1/identity/jwt',
      headers: bearer(tenant.ownerKey),
      payload: { issuer, audience: AUDIENCE, algorithms: ['RS256'] },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ jwksUri: `${issuer}/jwks`, algorithms: ['RS256'] });
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
    server?.close();
  });

  it('accepts a valid token as the linked member; the tenant comes from the trusted issuer, not a claim', async () => {
    const other = await app.createTenant();
    const res = await me(await token({ tenant_id: other.id, tenant: other.slug, role: 'owner' }));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      tenant: { id: tenant.id, slug: tenant.slug },
      principal: { type: 'user', userId, keyId: null, role: 'member' },
    });
  });

  it('refuses alg none, HS/RS confusion, an unknown kid, a wrong audience, an expired token, with WWW-Authenticate', async () => {
    const unsecured = new jose.UnsecuredJWT({ sub: 'idp-user-1' })
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .encode();
    const hmacWithPublicKey = await new jose.SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience(AUDIENCE)
      .setSubject('idp-user-1')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    const stranger = (await jose.generateKeyPair('RS256')).privateKey;
    const wrongAudience = await new jose.SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience([AUDIENCE + '-other'])
      .setSubject('idp-user-1')
      .setExpirationTime('5m')
      .sign(key);
    const cases: Record<string, string> = {
      'alg none': unsecured,
      'HS256 keyed with the public key': hmacWithPublicKey,
      'unknown kid': await token({}, { kid: 'k2', signWith: stranger }),
      'known kid, wrong key': await token({}, { signWith: stranger }),
      'wrong audience': wrongAudience,
      expired: await token({}, { exp: Math.floor(Date.now() / 1000) - 3600 }),
      'unknown subject': await token({}, { sub: 'someone-else' }),
    };
    const details: Record<string, string> = {};
    for (const [what, jwt] of Object.entries(cases)) {
      const res = await me(jwt);
      expect(res.statusCode, what).toBe(401);
      expect(res.headers['www-authenticate'], what).toMatch(/^Bearer /);
      details[what] = res.json<{ detail: string }>().detail;
    }
    expect(details).toEqual({
      'alg none': 'The token’s signing algorithm is not allowed.',
      'HS256 keyed with the public key': 'The token’s signing algorithm is not allowed.',
      'unknown kid': 'The token is signed with a key the issuer does not publish.',
      'known kid, wrong key': 'The token’s signature does not verify.',
      'wrong audience': 'The token is not meant for a trusted audience.',
      expired: 'The token has expired.',
      'unknown subject': 'The token’s subject is not a member of the tenant; sign in once first.',
    });
  });

  it('is configured by the owner only, and refuses an issuer another tenant already trusts for that audience', async () => {
    const other = await app.createTenant();
    const taken = await app.app.inject({
      method: 'PUT',
      url: '/v1/identity/jwt',
      headers: bearer(other.ownerKey),
      payload: { issuer, audience: AUDIENCE, jwksUri: `${issuer}/jwks` },
    });
    expect(taken.statusCode).toBe(409);
    const got = await app.app.inject({
      method: 'GET',
      url: '/v1/identity/jwt',
      headers: bearer(tenant.ownerKey),
    });
    expect(got.json()).toMatchObject({ issuer, audience: AUDIENCE });
    const del = await app.app.inject({
      method: 'DELETE',
      url: '/v1/identity/jwt',
      headers: bearer(tenant.ownerKey),
    });
    expect(del.statusCode).toBe(204);
    expect((await me(await token())).statusCode, 'no longer trusted').toBe(401);
    const { rows } = await t.asOwner((q) =>
      q.query<{ action: string }>(
        `SELECT action FROM audit_events WHERE tenant_id = $1 AND action LIKE 'jwt_trust.%' ORDER BY seq`,
        [tenant.id],
      ),
    );
    expect(rows.map((r) => r.action)).toEqual(['jwt_trust.updated', 'jwt_trust.deleted']);
  });
});
