import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserTests,
  launchChromium,
  newConsoleContext,
  seriousViolations,
} from './helpers/browser.js';
import { buildConsole, consoleBuilt } from '../scripts/build-web.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startIdp, type TestIdp } from './helpers/oidc-idp.js';
import { GOOD_PASSWORD, signedInMember } from './helpers/people.js';

/** A PKCE authorization request of `clientId` to `redirectUri`, on `base`. */
function authorizeUrl(base: string, clientId: string, redirectUri: string, verifier: string): URL {
  const url = new URL(`${base}/oauth/authorize`);
  for (const [k, v] of Object.entries({
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    resource: `${base}/mcp`,
    state: 'browser-state',
  }))
    url.searchParams.set(k, v);
  return url;
}

/**
 * Console errors other than the 401 of `GET /v1/me` a signed-out page starts with and the 404 of
 * the browser's own `/favicon.ico` request (the console has none; the page's own requests are
 * checked by what the page then shows).
 */
function unexpected(errors: string[]): string[] {
  return errors.filter((e) => !/^Failed to load resource: .* status of 40[14] /.test(e));
}

/**
 * The consent page in a real browser: what a browser does to a form POST (its Origin header under
 * the page's referrer policy) and to the redirect after it (CSP form-action) cannot be seen with
 * fetch. Skips without /usr/bin/chromium unless RAMPART_BROWSER_TESTS=required.
 */
describe.runIf(browserTests.required && !browserTests.available)(
  'OAuth consent browser suite',
  () => {
    it('has chromium at /usr/bin/chromium (RAMPART_BROWSER_TESTS=required)', () => {
      expect.fail('chromium is missing: apt-get install -y chromium');
    });
  },
);

describe.runIf(browserTests.available)('OAuth consent page in chromium', () => {
  let t: TestDatabase;
  let app: TestApp;
  let browser: Browser;
  let callback: Server;
  let base: string;
  let redirectUri: string;
  let idp: TestIdp;

  beforeAll(async () => {
    // The return path runs in the console (web/dist, built by npm install).
    if (!consoleBuilt()) await buildConsole();
    callback = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/plain' }).end('back'),
    );
    await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
    redirectUri = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    base = `http://127.0.0.1:${port}`;
    idp = await startIdp(`${base}/auth/callback`, `${base}/`);
    t = await createTestDatabase('pglite');
    app = await createTestApp(t.db, {
      PUBLIC_URL: base,
      PORT: String(port),
      RAMPART_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'),
      // The identity provider listens on loopback.
      OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'true',
    });
    await app.app.listen({ host: '127.0.0.1', port });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await idp?.close();
    await app?.close();
    await t?.close();
    callback?.closeAllConnections();
    await new Promise<void>((r) => (callback ? callback.close(() => r()) : r()));
  });

  /** Registers a public client (no secret) returning to `redirectUri`; answers its id. */
  async function registerPublicClient(name: string): Promise<string> {
    const reg = await app.app.inject({
      method: 'POST',
      url: '/oauth/register',
      payload: {
        redirect_uris: [redirectUri],
        token_endpoint_auth_method: 'none',
        client_name: name,
      },
    });
    expect(reg.statusCode, reg.body).toBe(201);
    return reg.json<{ client_id: string }>().client_id;
  }

  it('a signed-in person allows the client; the browser lands on its redirect URI with code, state and iss', async () => {
    const tenant = await app.createTenant();
    const who = await signedInMember(app, tenant, 'browser-consent@example.com', 'member');
    const clientId = await registerPublicClient('Desk <b>IDE</b>');
    const verifier = 'x'.repeat(50);
    const url = authorizeUrl(base, clientId, redirectUri, verifier);

    const { context, errors } = await newConsoleContext(browser);
    await context.addCookies(
      who.cookie.split('; ').map((pair) => {
        const [name = '', value = ''] = pair.split('=');
        return { name, value, url: base };
      }),
    );
    const page = await context.newPage();
    await page.goto(url.href);
    // The client's name is shown as text, never as markup.
    await expect
      .poll(() => page.textContent('h1'))
      .toBe('Allow Desk <b>IDE</b> to use Rampart as you?');
    expect(await page.textContent('main')).toContain('browser-consent@example.com');
    expect(await page.textContent('main')).toContain(tenant.slug);
    await expect.poll(() => seriousViolations(page), { timeout: 10_000 }).toEqual([]);
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(redirectUri)),
      page.click('button[value="approve"]'),
    ]);
    const back = new URL(page.url());
    expect(back.searchParams.get('state')).toBe('browser-state');
    expect(back.searchParams.get('iss')).toBe(base);
    const code = back.searchParams.get('code') ?? '';
    expect(code).toMatch(/^rmac_/);
    // No CSP refusal (style, form-action on the redirect) and no other console error.
    expect(errors).toEqual([]);

    const token = await fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        redirect_uri: redirectUri,
        client_id: clientId,
      }).toString(),
    });
    expect(token.status).toBe(200);
    await context.close();
  });

  /** Signs in on the console's sign-in form with a password. */
  const signIn = async (page: Page, slug: string, email: string) => {
    await page.getByRole('tabpanel').getByLabel('Tenant').fill(slug);
    await page.getByLabel('E-mail').fill(email);
    await page.locator('input[autocomplete="current-password"]').fill(GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  it('signed out: authorize → console sign-in → consent → code; then Connected applications revokes it', async () => {
    const tenant = await app.createTenant();
    const email = 'browser-return@example.com';
    // The account exists with a password; this browser has no session.
    await signedInMember(app, tenant, email, 'member');
    const clientId = await registerPublicClient('Return IDE');
    const verifier = 'y'.repeat(50);
    const url = authorizeUrl(base, clientId, redirectUri, verifier);

    const { context, errors } = await newConsoleContext(browser);
    const page = await context.newPage();
    await page.goto(url.href);
    // The console's sign-in, carrying the request to return to, says why it is asked.
    await page.getByRole('heading', { name: 'Sign in to Rampart' }).waitFor();
    const at = new URL(page.url());
    expect(at.pathname).toBe('/');
    expect(`${base}${at.searchParams.get('next') ?? ''}`).toBe(url.href);
    await page.getByText('An application asks to connect').waitFor();
    await expect.poll(() => seriousViolations(page), { timeout: 10_000 }).toEqual([]);
    await signIn(page, tenant.slug, email);
    // Back at the authorization request (a full page load): the consent page.
    await expect.poll(() => page.textContent('h1')).toBe('Allow Return IDE to use Rampart as you?');
    expect(new URL(page.url()).pathname).toBe('/oauth/authorize');
    expect(await page.textContent('main')).toContain(email);
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(redirectUri)),
      page.click('button[value="approve"]'),
    ]);
    const back = new URL(page.url());
    expect(back.searchParams.get('state')).toBe('browser-state');
    const code = back.searchParams.get('code') ?? '';
    expect(code).toMatch(/^rmac_/);
    const issued = await fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        redirect_uri: redirectUri,
        client_id: clientId,
      }).toString(),
    });
    expect(issued.status).toBe(200);
    const refresh = ((await issued.json()) as { refresh_token: string }).refresh_token;

    // Connected applications lists the client; Revoke (confirmed) ends its grant.
    await page.goto(`${base}/`);
    await page
      .getByRole('navigation', { name: 'Pages' })
      .getByRole('link', { name: 'Connected applications' })
      .click();
    await page.getByRole('heading', { name: 'Connected applications', level: 1 }).waitFor();
    const row = page.getByTestId('connected-app');
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toContain('Return IDE');
    expect(await row.textContent()).toContain(new URL(redirectUri).host);
    await expect.poll(() => seriousViolations(page), { timeout: 10_000 }).toEqual([]);
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Revoke Return IDE' }).click();
    await page.getByText('No application is connected').waitFor();
    expect(await row.count()).toBe(0);
    const refused = await fetch(`${base}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refresh,
        client_id: clientId,
      }).toString(),
    });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_grant');
    expect(unexpected(errors)).toEqual([]);
    await context.close();
  });

  it('signed out with single sign-on: the return path survives the identity provider round trip', async () => {
    const tenant = await app.createTenant();
    const put = await app.app.inject({
      method: 'PUT',
      url: '/v1/identity/oidc',
      headers: { authorization: `Bearer ${tenant.ownerKey}` },
      payload: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret },
    });
    expect(put.statusCode, put.body).toBe(200);
    idp.accounts.set('sso-return', { email: 'sso-return@example.com', groups: [] });
    const clientId = await registerPublicClient('SSO IDE');
    const url = authorizeUrl(base, clientId, redirectUri, 'z'.repeat(50));
    const { context, errors } = await newConsoleContext(browser);
    const page = await context.newPage();
    await page.goto(url.href);
    await page.getByRole('heading', { name: 'Sign in to Rampart' }).waitFor();
    await page.getByRole('tab', { name: 'Single sign-on' }).click();
    await page.getByRole('tabpanel').getByLabel('Tenant').fill(tenant.slug);
    await page.getByRole('link', { name: 'Continue with your identity provider' }).click();
    await page.locator('input[name="login"]').fill('sso-return');
    await page.locator('input[name="password"]').fill('x');
    await page.locator('button[type="submit"]').click();
    // The consent page of oidc-provider's development interactions.
    await page.locator('button[type="submit"]').click();
    // The callback lands on the console's Home, which goes on to the authorization request.
    await expect.poll(() => page.textContent('h1')).toBe('Allow SSO IDE to use Rampart as you?');
    expect(page.url()).toBe(url.href);
    expect(await page.textContent('main')).toContain('sso-return@example.com');
    expect(await page.evaluate('window.sessionStorage.length')).toBe(0);
    // (The identity provider's development pages load assets from the internet: not resolved here.)
    expect(errors.filter((e) => /Content.Security.Policy|Refused/i.test(e))).toEqual([]);
    await context.close();
  });

  it('a next parameter to another origin is ignored: the sign-in lands on the console home', async () => {
    const tenant = await app.createTenant();
    const email = 'browser-next@example.com';
    await signedInMember(app, tenant, email, 'member');
    for (const next of [
      '//evil.example',
      'https://evil.example/oauth/authorize',
      '/\\evil.example',
    ]) {
      const { context, errors } = await newConsoleContext(browser);
      const page = await context.newPage();
      const leaving: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(base)) leaving.push(r.url());
      });
      await page.goto(`${base}/?next=${encodeURIComponent(next)}`);
      await page.getByRole('heading', { name: 'Sign in to Rampart' }).waitFor();
      await signIn(page, tenant.slug, email);
      await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
      await expect.poll(() => page.url()).toBe(`${base}/`);
      expect(leaving, next).toEqual([]);
      expect(unexpected(errors)).toEqual([]);
      await context.close();
    }
  });
});
