import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, isConsolePage, registerConsole } from './console.js';
import { installErrorHandling } from './problem.js';

describe('isConsolePage', () => {
  it('never claims an API, auth, probe or document path', () => {
    for (const p of [
      '/v1',
      '/v1/nope',
      '/admin/v1/x',
      '/auth/acme/login',
      '/scim/v2/Users',
      '/mcp',
      '/metrics',
      '/healthz',
      '/readyz',
      '/openapi.json',
      '/docs/static/x',
      '/assets/x',
      '/favicon.ico',
    ])
      expect(isConsolePage(p), p).toBe(false);
    for (const p of ['/', '/documents', '/documents/abc', '/keys', '/v1x', '/authors'])
      expect(isConsolePage(p), p).toBe(true);
  });
});

describe('registerConsole', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-console-'));
  let app: FastifyInstance;
  let empty: FastifyInstance;

  beforeAll(async () => {
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'not an asset');
    app = Fastify();
    installErrorHandling(app);
    app.get('/v1/thing', async () => ({ ok: true }));
    registerConsole(app, dir);
    empty = Fastify();
    installErrorHandling(empty);
    registerConsole(empty, join(dir, 'missing'));
    await Promise.all([app.ready(), empty.ready()]);
  });
  afterAll(async () => {
    await app.close();
    await empty.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves index.html at / and at SPA paths under the strict CSP, uncached', async () => {
    for (const url of ['/', '/documents/123?page=2', '/keys']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.body).toContain('<div id="root">');
    }
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toMatch(/script-src[^;]*unsafe/);
  });

  it('leaves the API its own answers, and unknown API paths their problem+json 404', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/thing' })).json()).toEqual({ ok: true });
    for (const url of [
      '/v1/nope',
      '/auth/x/y',
      '/scim/v2/Users',
      '/mcp',
      '/metricsx/../metrics/a',
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ code: 'route_not_found' });
    }
  });

  it('serves hashed assets for a year, and nothing outside the assets folder', async () => {
    const js = await app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    for (const url of [
      '/assets/..%2Fsecret.txt',
      '/assets/../secret.txt',
      '/assets/missing.js',
      '/assets/index-abc123.exe',
      '/secret.txt',
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain('not an asset');
    }
  });

  it('says how to build the console when it is missing', async () => {
    const res = await empty.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'console_not_built' });
  });
});
