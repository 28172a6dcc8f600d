import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * Served but outside the OpenAPI document (probes, scrapes, the document itself, the MCP
 * endpoint with its metadata, which speak JSON-RPC and RFC 9728 rather than the REST API, and
 * the OAuth authorization server's endpoints, which speak OAuth's forms and error JSON).
 */
const INFRASTRUCTURE = [
  'GET /openapi.json',
  'GET /metrics',
  'GET /healthz',
  'GET /readyz',
  'POST /mcp',
  'GET /mcp',
  'DELETE /mcp',
  'GET /.well-known/oauth-protected-resource/mcp',
  'GET /.well-known/oauth-authorization-server',
  'POST /oauth/register',
  'GET /oauth/authorize',
  'POST /oauth/authorize',
  'POST /oauth/token',
  'POST /oauth/revoke',
];

/**
 * The endpoints a Markdown page names, as `METHOD /path` inside backticks, normalised to the
 * OpenAPI form: `:id` becomes `{id}`, a query string is dropped.
 */
export function documentedEndpoints(markdown: string): Set<string> {
  const named = markdown.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/[^`\s?]*)/g);
  return new Set(
    [...named].map(([, method, path]) => `${method} ${(path ?? '').replace(/:(\w+)/g, '{$1}')}`),
  );
}

/** Every `METHOD /path` of an OpenAPI document's `paths`. */
function openApiEndpoints(doc: unknown): Set<string> {
  const out = new Set<string>();
  if (typeof doc !== 'object' || doc === null || !('paths' in doc)) return out;
  const paths = doc.paths;
  if (typeof paths !== 'object' || paths === null) return out;
  for (const [path, item] of Object.entries(paths)) {
    if (typeof item !== 'object' || item === null) continue;
    for (const method of METHODS) {
      if (method.toLowerCase() in item) out.add(`${method} ${path}`);
    }
  }
  return out;
}

/**
 * docs/api.md cannot drift from the routes: every endpoint of the served OpenAPI document is
 * named there, and every endpoint it names is served. The document is built from the route
 * declarations, so one driver is enough.
 */
describe('docs/api.md matches /openapi.json', () => {
  let t: TestDatabase;
  let app: TestApp;
  let served: Set<string>;
  const documented = documentedEndpoints(
    readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8'),
  );

  beforeAll(async () => {
    t = await createTestDatabase('pglite');
    app = await createTestApp(t.db);
    const res = await app.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    served = openApiEndpoints(res.json());
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('serves a document with the routes in it', () => {
    expect(served.has('GET /v1/me')).toBe(true);
    expect(served.size).toBeGreaterThan(30);
  });

  it('names every served endpoint', () => {
    expect([...served].filter((e) => !documented.has(e)).sort()).toEqual([]);
  });

  it('names no endpoint that is not served', () => {
    const extra = [...documented].filter((e) => !served.has(e) && !INFRASTRUCTURE.includes(e));
    expect(extra.sort()).toEqual([]);
  });

  it('the endpoints outside the OpenAPI document exist', async () => {
    for (const endpoint of INFRASTRUCTURE) {
      const [method = 'GET', url = ''] = endpoint.split(' ');
      const res = await app.app.inject({ method: method as 'GET' | 'POST' | 'DELETE', url });
      expect(res.statusCode, endpoint).not.toBe(404);
    }
  });

  it('reads endpoints the way the page writes them', () => {
    expect([
      ...documentedEndpoints(
        '`GET /v1/api-keys?limit=&cursor=` and `PUT /v1/groups/:id/members/:userId` `{ x }`',
      ),
    ]).toEqual(['GET /v1/api-keys', 'PUT /v1/groups/{id}/members/{userId}']);
  });
});
