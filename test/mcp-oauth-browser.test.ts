import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserTests,
  launchChromium,
  newConsoleContext,
  seriousViolations,
} from './helpers/browser.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { signedInMember } from './helpers/people.js';

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

  beforeAll(async () => {
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
    t = await createTestDatabase('pglite');
    app = await createTestApp(t.db, {
      PUBLIC_URL: base,
      PORT: String(port),
      RAMPART_MASTER_KEY: Buffer.alloc(32, 9).toString('base64'),
    });
    await app.app.listen({ host: '127.0.0.1', port });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await t?.close();
    callback?.closeAllConnections();
    await new Promise<void>((r) => (callback ? callback.close(() => r()) : r()));
  });

  it('a signed-in person allows the client; the browser lands on its redirect URI with code, state and iss', async () => {
    const tenant = await app.createTenant();
    const who = await signedInMember(app, tenant, 'browser-consent@example.com', 'member');
    const reg = await app.app.inject({
      method: 'POST',
      url: '/oauth/register',
      payload: {
        redirect_uris: [redirectUri],
        token_endpoint_auth_method: 'none',
        client_name: 'Desk <b>IDE</b>',
      },
    });
    expect(reg.statusCode, reg.body).toBe(201);
    const clientId = reg.json<{ client_id: string }>().client_id;
    const verifier = 'x'.repeat(50);
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
});
