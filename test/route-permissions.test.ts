import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS, ROLES, ROLE_PERMISSIONS } from '../src/identity/permissions.js';
import { registeredRoutes } from '../src/platform/http/route.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

/** Every route the router holds, as "METHOD /path/:param", read from printRoutes' tree. */
function routerRoutes(app: TestApp): string[] {
  const stack: string[] = [];
  const found = new Set<string>();
  for (const line of app.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const at = line.search(/[├└]── /);
    if (at < 0) continue;
    const m = /^(.*?)(?: \(([^)]*)\))?$/.exec(line.slice(at + 4));
    if (!m) continue;
    stack.length = at / 4;
    stack.push(m[1] ?? '');
    const path = stack.join('');
    for (const method of (m[2] ?? '').split(', ')) {
      if (method && method !== 'HEAD' && method !== 'OPTIONS') found.add(`${method} ${path}`);
    }
  }
  return [...found].sort();
}

/**
 * Routes registered with Fastify directly rather than declared with route(): none of them
 * reads tenant data. Adding one here needs a reason a reviewer agrees with.
 */
const UNDECLARED: Record<string, string> = {
  'GET /healthz': 'liveness probe, no credential',
  'GET /readyz': 'readiness probe, no credential',
  'GET /metrics': 'Prometheus scrape, its own bearer token (METRICS_TOKEN)',
  'GET /openapi.json': 'the public API description',
  'POST /mcp':
    'the MCP endpoint: authenticated like every tenant route; each tool is registered only for a caller holding its permission (mcp/server/tools.ts)',
  'GET /mcp': 'the MCP endpoint (stateless: 405 after authentication)',
  'DELETE /mcp': 'the MCP endpoint (stateless: 405 after authentication)',
  'GET /.well-known/oauth-protected-resource/mcp': 'RFC 9728 metadata, public by design',
  'GET /.well-known/oauth-authorization-server': 'RFC 8414 metadata, public by design',
  'POST /oauth/register':
    "RFC 7591 registration: clients are no tenant's data; rate-limited per address, audited in the platform chain",
  'GET /oauth/authorize':
    "the authorization request: the consent page needs the person's own session cookie (identity/oauth-routes.ts)",
  'POST /oauth/authorize':
    "the consent decision: the person's session cookie and its CSRF token; the code is issued in their tenant",
  'POST /oauth/token':
    'OAuth token endpoint: the client authenticates itself and presents a code or refresh token bound to a person',
  'POST /oauth/revoke': 'RFC 7009 revocation: the client authenticates itself; only its own tokens',
  'GET /': 'the web console page (static index.html, no data)',
  'GET /assets/:name': "the web console's hashed static assets",
};

/** Permissions no route requires, each with where it is enforced instead. */
const USED_ELSEWHERE: Record<string, string> = {
  'documents:manage':
    'RLS policies on documents and chunks (app_has_permission, migration 0010) and search.ts',
};

/** Permissions no role grants, each with the one credential that holds it. */
const GRANTED_BY_CREDENTIAL: Record<string, string> = {
  'scim:provision': "only a tenant's SCIM bearer token (identity/scim-token.ts)",
};

describe.each(testDrivers())('route permissions (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db);
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  const specs = () => registeredRoutes(app.app);
  const key = (s: { method: string; url: string }) => `${s.method} ${s.url}`;

  it('declares every router route with route(), apart from the stated exemptions', () => {
    const declared = new Set(specs().map(key));
    const undeclared = routerRoutes(app).filter(
      (r) => !declared.has(r) && !r.startsWith('GET /docs'),
    );
    expect(undeclared).toEqual(Object.keys(UNDECLARED).sort());
    expect(specs().length).toBeGreaterThan(40);
  });

  it('gives every tenant route a permission from the catalogue, and other routes none', () => {
    const catalogue = new Set<string>(PERMISSIONS);
    for (const spec of specs()) {
      const permission: unknown = spec.permission;
      if (spec.auth === 'tenant') {
        expect(typeof permission === 'string' && catalogue.has(permission), key(spec)).toBe(true);
      } else {
        expect(permission, key(spec)).toBeUndefined();
      }
    }
  });

  it('uses every permission of the catalogue on a route, or says where it is enforced', () => {
    const onRoutes = new Set(specs().map((s): unknown => s.permission));
    const unused = PERMISSIONS.filter((p) => !onRoutes.has(p));
    expect(unused.sort()).toEqual(Object.keys(USED_ELSEWHERE).sort());
    // A permission no role grants could never be exercised, unless a credential of its own holds it.
    for (const p of PERMISSIONS) {
      expect(ROLES.some((r) => ROLE_PERMISSIONS[r].has(p)) || p in GRANTED_BY_CREDENTIAL, p).toBe(
        true,
      );
    }
    for (const p of Object.keys(GRANTED_BY_CREDENTIAL))
      expect(ROLES.some((r) => [...ROLE_PERMISSIONS[r]].some((x) => x === p))).toBe(false);
  });

  it('guards the knowledge settings with their own permission, not groups:manage', () => {
    const permissionOf = (k: string): unknown => specs().find((s) => key(s) === k)?.permission;
    expect(permissionOf('PUT /v1/knowledge/settings')).toBe('knowledge:manage');
    expect(permissionOf('GET /v1/knowledge/settings')).toBe('documents:read');
  });
});
