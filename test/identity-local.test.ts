import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

const PUBLIC_URL = 'https://rampart.test';
const ENV = { PUBLIC_URL, RAMPART_MASTER_KEY: Buffer.alloc(32, 9).toString('base64') };
const GOOD = 'correct horse battery staple';

describe.each(testDrivers())('identity: local accounts (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let tenant: { id: string; slug: string; ownerKey: string };

  async function call(
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    opts: {
      key?: string;
      cookie?: string;
      payload?: unknown;
      headers?: Record<string, string>;
      ip?: string;
    } = {},
  ) {
    return app.app.inject({
      method,
      url,
      ...(opts.ip ? { remoteAddress: opts.ip } : {}),
      headers: {
        ...(opts.key ? bearer(opts.key) : {}),
        ...(opts.cookie ? { cookie: opts.cookie } : {}),
        ...opts.headers,
      },
      ...(opts.payload !== undefined ? { payload: opts.payload as Record<string, unknown> } : {}),
    });
  }

  async function invite(email: string, role = 'member'): Promise<string> {
    const res = await call('POST', '/v1/users/invitations', {
      key: tenant.ownerKey,
      payload: { email, role },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ token: string }>().token;
  }

  async function member(email: string, password = GOOD): Promise<void> {
    const token = await invite(email);
    const res = await call('POST', '/auth/invitations/accept', { payload: { token, password } });
    expect(res.statusCode, res.body).toBe(201);
  }

  function signIn(email: string, password: string, extra: { code?: string; ip?: string } = {}) {
    return call('POST', `/auth/${tenant.slug}/password`, {
      payload: { email, password, ...(extra.code ? { code: extra.code } : {}) },
      ...(extra.ip ? { ip: extra.ip } : {}),
    });
  }

  /** The Cookie header a browser would send back after this answer. */
  function cookiesOf(res: { headers: Record<string, unknown> }): { cookie: string; csrf: string } {
    const set = [res.headers['set-cookie']]
      .flat()
      .filter((c): c is string => typeof c === 'string');
    const pairs = set.map((c) => c.split(';')[0] ?? '');
    const csrf = pairs.find((p) => p.startsWith('__Host-rampart_csrf='))?.split('=')[1] ?? '';
    return { cookie: pairs.join('; '), csrf };
  }

  async function actions(userEmail: string): Promise<string[]> {
    const { rows } = await t.asOwner((q) =>
      q.query<{ action: string }>(
        `SELECT action FROM audit_events WHERE tenant_id = $1
            AND (actor_id = (SELECT k.pseudonym FROM audit_subject_keys k JOIN users u ON k.subject = u.id::text
                              WHERE k.tenant_id = $1 AND k.kind = 'user' AND u.email = $2)
                 OR details->>'email' = (SELECT pseudonym FROM audit_subject_keys
                                          WHERE tenant_id = $1 AND kind = 'email' AND subject = $2))
          ORDER BY seq`,
        [tenant.id, userEmail],
      ),
    );
    return rows.map((r) => r.action);
  }

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, ENV);
    tenant = await app.createTenant();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('invites: a one-time token, shown once, within the inviter’s role', async () => {
    const res = await call('POST', '/v1/users/invitations', {
      key: tenant.ownerKey,
      payload: { email: 'Ann@Example.com', role: 'admin' },
    });
    expect(res.statusCode).toBe(201);
    const inv = res.json<{ token: string; email: string; expiresAt: string }>();
    expect(inv.email).toBe('ann@example.com');
    expect(inv.token).toMatch(/^rmi_[A-Za-z0-9_-]{43}$/);
    expect(new Date(inv.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const stored = await t.asOwner((q) =>
      q.query<{ row: string }>('SELECT i::text AS row FROM invitations i WHERE tenant_id = $1', [
        tenant.id,
      ]),
    );
    expect(stored.rows.map((r) => r.row).join()).not.toContain(inv.token);
    const key = await call('POST', '/v1/api-keys', {
      key: tenant.ownerKey,
      payload: { name: 'adm', role: 'admin' },
    });
    const adminKey = key.json<{ secret: string }>().secret;
    const above = await call('POST', '/v1/users/invitations', {
      key: adminKey,
      payload: { email: 'boss@example.com', role: 'owner' },
    });
    expect(above.statusCode).toBe(403);
  });

  it('sets a password by OWASP ASVS rules, once per invitation, and not after expiry', async () => {
    const token = await invite('beatrix@example.com');
    for (const password of ['short', 'Password1234!', 'aaaaaaaaaaaaaaaa', 'beatrix-secure-2026!']) {
      const weak = await call('POST', '/auth/invitations/accept', { payload: { token, password } });
      expect(weak.statusCode, password).toBe(400);
    }
    const ok = await call('POST', '/auth/invitations/accept', {
      payload: { token, password: GOOD },
    });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.json()).toMatchObject({ tenant: tenant.slug, email: 'beatrix@example.com' });
    const again = await call('POST', '/auth/invitations/accept', {
      payload: { token, password: GOOD },
    });
    expect(again.statusCode).toBe(401);
    const hash = await t.asOwner((q) =>
      q.query<{ password_hash: string }>(
        'SELECT password_hash FROM local_credentials WHERE tenant_id = $1',
        [tenant.id],
      ),
    );
    expect(hash.rows[0]?.password_hash).toMatch(/^\$argon2id\$/);
    const late = await invite('cy@example.com');
    await t.asOwner((q) =>
      q.query(
        `UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE email = 'cy@example.com'`,
      ),
    );
    expect(
      (await call('POST', '/auth/invitations/accept', { payload: { token: late, password: GOOD } }))
        .statusCode,
    ).toBe(401);
  });

  it('signs in with a password into a session; unknown user and wrong password get the same answer', async () => {
    await member('dee@example.com');
    const ok = await signIn('dee@example.com', GOOD);
    expect(ok.statusCode, ok.body).toBe(200);
    const { cookie } = cookiesOf(ok);
    const me = await call('GET', '/v1/me', { cookie });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ principal: { type: 'user', role: 'member' } });
    const wrong = await signIn('dee@example.com', 'not the password at all');
    const unknown = await signIn('nobody@example.com', 'not the password at all');
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    const shape = (r: typeof wrong) => {
      const { requestId: _r, instance: _i, ...rest } = r.json<Record<string, unknown>>();
      return rest;
    };
    expect(shape(wrong)).toEqual(shape(unknown));
    expect(await actions('dee@example.com')).toEqual([
      'invitation.created',
      'invitation.accepted',
      'user.password_set',
      'session.started',
      'user.sign_in_failed',
    ]);
  });

  it('enrols TOTP with recovery codes; sign-in then needs a code, and each recovery code works once', async () => {
    await member('eve@example.com');
    const { cookie, csrf } = cookiesOf(await signIn('eve@example.com', GOOD));
    const headers = { origin: PUBLIC_URL, 'x-csrf-token': csrf };
    const start = await call('POST', '/v1/me/totp', { cookie, headers });
    expect(start.statusCode, start.body).toBe(200);
    const { secret, uri } = start.json<{ secret: string; uri: string }>();
    expect(uri).toMatch(/^otpauth:\/\/totp\/Rampart:eve%40example\.com\?/);
    const totp = new TOTP({
      secret: Secret.fromBase32(secret),
      digits: 6,
      period: 30,
      algorithm: 'SHA1',
    });
    expect(
      (
        await call('POST', '/v1/me/totp/confirm', {
          cookie,
          headers,
          payload: { code: '000000' === totp.generate() ? '111111' : '000000' },
        })
      ).statusCode,
    ).toBe(400);
    const confirmCode = totp.generate();
    const confirm = await call('POST', '/v1/me/totp/confirm', {
      cookie,
      headers,
      payload: { code: confirmCode },
    });
    expect(confirm.statusCode, confirm.body).toBe(200);
    const codes = confirm.json<{ recoveryCodes: string[] }>().recoveryCodes;
    expect(codes).toHaveLength(10);
    const noCode = await signIn('eve@example.com', GOOD);
    expect(noCode.statusCode).toBe(401);
    expect(noCode.json()).toMatchObject({ code: 'second_factor_required' });
    // The code that confirmed enrolment is spent; the next step's code works once (no replay).
    const replayed = await signIn('eve@example.com', GOOD, { code: confirmCode });
    expect(replayed.statusCode).toBe(401);
    expect(replayed.json()).toMatchObject({ code: 'invalid_credentials' });
    const next = totp.generate({ timestamp: Date.now() + 30_000 });
    expect((await signIn('eve@example.com', GOOD, { code: next })).statusCode).toBe(200);
    expect((await signIn('eve@example.com', GOOD, { code: next })).statusCode).toBe(401);
    expect((await signIn('eve@example.com', GOOD, { code: codes[0] })).statusCode).toBe(200);
    expect((await signIn('eve@example.com', GOOD, { code: codes[0] })).statusCode).toBe(401);
    const viaKey = await call('POST', '/v1/me/totp', { key: tenant.ownerKey });
    expect(viaKey.statusCode).toBe(403);
  });

  it('holds off repeated failures per account with growing delays, audits the lock, and a reset', async () => {
    await member('fay@example.com');
    const ip = '198.51.100.7';
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await signIn('fay@example.com', `wrong guess ${i} xyz`, { ip })).statusCode);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401]);
    const held = await signIn('fay@example.com', GOOD, { ip: '203.0.113.9' });
    expect(held.statusCode, 'the right password waits too, from any address').toBe(429);
    expect(Number(held.headers['retry-after'])).toBeGreaterThan(0);
    const log = await actions('fay@example.com');
    expect(log.filter((a) => a === 'user.sign_in_failed')).toHaveLength(6);
    expect(log).toContain('user.locked');
    // An admin resets the password with a new invitation: the lock goes with the old password.
    const token = await invite('fay@example.com');
    const reset = await call('POST', '/auth/invitations/accept', {
      payload: { token, password: 'a brand new pass phrase' },
    });
    expect(reset.statusCode).toBe(201);
    expect(await actions('fay@example.com')).toContain('user.password_replaced');
  });

  it('lets the owner turn local accounts off only once OIDC is configured', async () => {
    const off = await call('PUT', '/v1/identity/settings', {
      key: tenant.ownerKey,
      payload: { localAccountsEnabled: false },
    });
    expect(off.statusCode).toBe(409);
    expect(off.json()).toMatchObject({ code: 'oidc_not_configured' });
    const got = await call('GET', '/v1/identity/settings', { key: tenant.ownerKey });
    expect(got.json()).toEqual({ localAccountsEnabled: true });
    await t.asOwner((q) =>
      q.query(
        `INSERT INTO identity_settings (tenant_id, local_accounts_enabled) VALUES ($1, false)
         ON CONFLICT (tenant_id) DO UPDATE SET local_accounts_enabled = false`,
        [tenant.id],
      ),
    );
    const refused = await signIn('dee@example.com', GOOD);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'local_accounts_disabled' });
  });
});
