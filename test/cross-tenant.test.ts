import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { signExportLink } from '../src/governance/exports-links.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient } from './helpers/identity-api.js';

/**
 * Every registered tenant/admin route whose path takes an id, as "METHOD /path/:param", read
 * from the router itself (printRoutes' tree), so a new id route without a case below fails.
 */
function idRoutes(app: TestApp): string[] {
  const tree = app.app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const found = new Set<string>();
  for (const line of tree.split('\n')) {
    const at = line.search(/[├└]── /);
    if (at < 0) continue;
    const depth = at / 4;
    const m = /^(.*?)(?: \(([^)]*)\))?$/.exec(line.slice(at + 4)) as RegExpExecArray;
    stack.length = depth;
    stack.push(m[1] as string);
    const path = stack.join('');
    if (!/^\/(v1|admin)\//.test(path) || !/[:*]/.test(path)) continue;
    for (const method of (m[2] ?? '').split(', ').filter((x) => x && x !== 'HEAD')) {
      found.add(`${method} ${path}`);
    }
  }
  return [...found].sort();
}

/** Strings only tenant B's rows contain. */
const B_MARKERS = [
  'b-key',
  'b-group',
  'bu-',
  'bo-',
  'b-doc',
  'B only.',
  'b-prov',
  'gpt-b',
  'sk-b-provider-secret',
  'b-agent',
  'b.tool',
  'b-tool-secret',
  'b-sql-source',
  'b-hook',
];

interface Listing {
  data: { id: string }[];
}

describe.each(testDrivers())("a tenant's key never touches another tenant's ids (%s)", (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let call: ReturnType<typeof apiClient>;
  let a: { id: string; ownerKey: string };
  let b: { id: string; ownerKey: string };
  const B = {
    keyId: '',
    keySecret: '',
    user: '',
    outsider: '',
    group: '',
    doc: '',
    provider: '',
    sqlSource: '',
    dataset: '',
    evalRun: '',
    mcpServer: '',
    alias: 'b-alias',
    model: 'b-model',
    agent: '',
    tool: '',
    hold: '',
    request: 'b-request-record',
    run: '',
    webhook: '',
    delivery: '',
    export: '',
    erasure: '',
  };
  const A = { user: '', group: '' };

  const ok = async (key: string, method: 'POST' | 'PUT', url: string, body?: unknown) => {
    const r = await call(method, url, key, body);
    expect(r.status, `${method} ${url}: ${r.text}`).toBeLessThan(300);
    return r.body as { id: string; secret: string };
  };

  /** Everything of tenant B the id routes could change, as B itself sees it. */
  const snapshotB = async () => {
    const get = async (url: string) => {
      const r = await call('GET', url, b.ownerKey);
      expect(r.status, url).toBe(200);
      return r.body;
    };
    return {
      keys: await get('/v1/api-keys?includeRevoked=true&limit=200'),
      users: await get('/v1/users?limit=200'),
      groups: await get('/v1/groups?limit=200'),
      group: await get(`/v1/groups/${B.group}`),
      me: await (await call('GET', '/v1/me', B.keySecret)).body,
      documents: await get('/v1/documents?limit=100'),
      document: await get(`/v1/documents/${B.doc}`),
      chunks: await get(`/v1/documents/${B.doc}/chunks`),
      providers: await get('/v1/providers'),
      provider: await get(`/v1/providers/${B.provider}`),
      sqlSource: await get(`/v1/sql/sources/${B.sqlSource}`),
      mcpServer: await get(`/v1/mcp-servers/${B.mcpServer}`),
      routes: await get('/v1/routes'),
      route: await get(`/v1/routes/${B.alias}`),
      prices: await get('/v1/prices'),
      agent: await get(`/v1/agents/${B.agent}`),
      tool: await get(`/v1/tools/${B.tool}`),
      run: await get(`/v1/runs/${B.run}`),
      events: await get(`/v1/runs/${B.run}/events`),
      webhook: await get(`/v1/webhooks/${B.webhook}`),
      deliveries: await get(`/v1/webhooks/${B.webhook}/deliveries`),
    };
  };

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    // A master key so provider credentials (a gateway id route's rows) can be stored.
    app = await createTestApp(t.db, { RAMPART_MASTER_KEY: randomBytes(32).toString('base64') });
    call = apiClient(app);
    a = await app.createTenant();
    b = await app.createTenant();
    const key = await ok(b.ownerKey, 'POST', '/v1/api-keys', { name: 'b-key', role: 'member' });
    B.keyId = key.id;
    B.keySecret = key.secret;
    B.user = (
      await ok(b.ownerKey, 'POST', '/v1/users', { email: `bu-${b.id}@example.com`, role: 'member' })
    ).id;
    B.outsider = (
      await ok(b.ownerKey, 'POST', '/v1/users', { email: `bo-${b.id}@example.com`, role: 'viewer' })
    ).id;
    B.group = (await ok(b.ownerKey, 'POST', '/v1/groups', { name: 'b-group' })).id;
    await ok(b.ownerKey, 'PUT', `/v1/groups/${B.group}/members/${B.user}`);
    A.user = (
      await ok(a.ownerKey, 'POST', '/v1/users', { email: `au-${a.id}@example.com`, role: 'member' })
    ).id;
    A.group = (await ok(a.ownerKey, 'POST', '/v1/groups', { name: 'a-group' })).id;
    await ok(a.ownerKey, 'PUT', `/v1/groups/${A.group}/members/${A.user}`);
    B.doc = (await ok(b.ownerKey, 'POST', '/v1/documents', { title: 'b-doc', text: 'B only.' })).id;
    B.provider = (
      await ok(b.ownerKey, 'POST', '/v1/providers', {
        name: 'b-prov',
        type: 'openai',
        baseUrl: 'https://b.example.com/v1',
        apiKey: 'sk-b-provider-secret',
      })
    ).id;
    await ok(b.ownerKey, 'POST', '/v1/routes', {
      alias: B.alias,
      targets: [{ provider: 'b-prov', model: 'gpt-b' }],
    });
    await ok(b.ownerKey, 'PUT', `/v1/prices/${B.model}`, { input: 1, output: 2 });
    B.tool = (
      await ok(b.ownerKey, 'POST', '/v1/tools', {
        name: 'b.tool',
        description: 'B only.',
        parameters: { type: 'object' },
        request: { method: 'POST', url: 'https://b.example.com/act' },
        credential: 'b-tool-secret',
      })
    ).id;
    B.agent = (
      await ok(b.ownerKey, 'POST', '/v1/agents', {
        name: 'b-agent',
        instructions: 'B only.',
        model: B.alias,
        tools: [{ name: 'b.tool', policy: 'ask' }],
      })
    ).id;
    // No worker runs here: the run stays queued.
    B.run = (await ok(b.ownerKey, 'POST', `/v1/agents/${B.agent}/runs`, { input: 'B only.' })).id;
    B.sqlSource = (
      await ok(b.ownerKey, 'POST', '/v1/sql/sources', { name: 'b-sql-source', type: 'sample' })
    ).id;
    B.dataset = (
      await ok(b.ownerKey, 'POST', '/v1/evals/datasets', {
        name: 'b-golden',
        cases: [{ id: 'b1', target: 'search', input: 'B only' }],
      })
    ).id;
    B.evalRun = (await ok(b.ownerKey, 'POST', '/v1/evals/runs', { dataset: B.dataset })).id;
    B.webhook = (
      await ok(b.ownerKey, 'POST', '/v1/webhooks', {
        url: 'https://b.example.com/b-hook',
        events: ['document.ready'],
      })
    ).id;
    // No worker runs here: the ping stays pending.
    B.delivery = (await ok(b.ownerKey, 'POST', `/v1/webhooks/${B.webhook}/ping`)).id;
    B.export = (await ok(b.ownerKey, 'POST', '/v1/exports', { subject: { tenant: true } })).id;
    await app.subjects.runner.runExport(b.id, B.export);
    // No worker runs here: the erasure stays queued and changes nothing of B.
    B.erasure = (
      await ok(b.ownerKey, 'POST', '/v1/erasures', { userId: B.user, documents: 'delete' })
    ).id;
    B.hold = (
      await ok(b.ownerKey, 'PUT', '/v1/governance/holds', {
        scope: 'document',
        subjectId: B.doc,
        reason: 'b only',
      })
    ).id;
    // A reconstruction record of B's (what /v1/ask writes), inserted as the owner.
    await t.asOwner((q) =>
      q.query(
        `INSERT INTO request_records (tenant_id, request_id, kind, question, answer)
         VALUES ($1, $2, 'ask', 'b question', '{}')`,
        [b.id, B.request],
      ),
    );
    B.mcpServer = (
      await ok(b.ownerKey, 'POST', '/v1/mcp-servers', {
        name: 'b-mcp',
        url: 'https://mcp.example/mcp',
        auth: { type: 'bearer', token: 'b-secret-token' },
      })
    ).id;
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  /**
   * An attempt by A's owner with B's ids (or a mix of A's and B's). Routes keyed by an id answer
   * 404; routes keyed by a tenant-local name (a model alias, a model's price) may act on A's own
   * namespace ('own'), so there only B's rows staying unchanged is asserted. 401 and 403 are
   * refusals that come before any id is looked at (operator routes; a person's own connection).
   */
  type Attempt = [
    'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    string,
    unknown?,
    (404 | 401 | 403 | 'own')?,
  ];
  /** For each id route, what A's owner tries. Add a route here when you add one with an id. */
  const cases = (): Record<string, Attempt[]> => ({
    // identity
    'GET /v1/api-keys/:id': [['GET', `/v1/api-keys/${B.keyId}`]],
    'PATCH /v1/api-keys/:id': [
      ['PATCH', `/v1/api-keys/${B.keyId}`, { name: 'pwned', role: 'viewer' }],
    ],
    'DELETE /v1/api-keys/:id': [['DELETE', `/v1/api-keys/${B.keyId}`]],
    'GET /v1/users/:id': [['GET', `/v1/users/${B.user}`]],
    'PATCH /v1/users/:id': [['PATCH', `/v1/users/${B.user}`, { role: 'viewer' }]],
    'DELETE /v1/users/:id': [['DELETE', `/v1/users/${B.user}`]],
    'DELETE /v1/users/:id/sessions': [['DELETE', `/v1/users/${B.user}/sessions`]],
    // A key has no sessions of its own; no id of another tenant's (or any) session is found.
    'DELETE /v1/sessions/:id': [['DELETE', `/v1/sessions/${B.user}`]],
    // Likewise a key has no OAuth grants; a person's grants are checked across people and
    // tenants in mcp-oauth-server.test.ts.
    'DELETE /v1/me/oauth-grants/:id': [['DELETE', `/v1/me/oauth-grants/${B.user}`]],
    'GET /v1/groups/:id': [['GET', `/v1/groups/${B.group}`]],
    'DELETE /v1/groups/:id': [['DELETE', `/v1/groups/${B.group}`]],
    'PUT /v1/groups/:id/members/:userId': [
      ['PUT', `/v1/groups/${B.group}/members/${B.outsider}`],
      ['PUT', `/v1/groups/${B.group}/members/${A.user}`],
      ['PUT', `/v1/groups/${A.group}/members/${B.outsider}`],
    ],
    'DELETE /v1/groups/:id/members/:userId': [
      ['DELETE', `/v1/groups/${B.group}/members/${B.user}`],
      ['DELETE', `/v1/groups/${A.group}/members/${B.user}`],
    ],
    // knowledge
    'GET /v1/documents/:id': [['GET', `/v1/documents/${B.doc}`]],
    'GET /v1/documents/:id/chunks': [['GET', `/v1/documents/${B.doc}/chunks`]],
    'DELETE /v1/documents/:id': [['DELETE', `/v1/documents/${B.doc}`]],
    // gateway
    'GET /v1/providers/:id': [['GET', `/v1/providers/${B.provider}`]],
    'PATCH /v1/providers/:id': [
      [
        'PATCH',
        `/v1/providers/${B.provider}`,
        { apiKey: 'sk-stolen', baseUrl: 'https://evil.example.com' },
      ],
    ],
    'DELETE /v1/providers/:id': [['DELETE', `/v1/providers/${B.provider}`]],
    'GET /v1/routes/:alias': [['GET', `/v1/routes/${B.alias}`]],
    'PUT /v1/routes/:alias': [
      ['PUT', `/v1/routes/${B.alias}`, { targets: [{ provider: 'b-prov', model: 'x' }] }, 'own'],
    ],
    'DELETE /v1/routes/:alias': [['DELETE', `/v1/routes/${B.alias}`]],
    'PUT /v1/prices/:model': [['PUT', `/v1/prices/${B.model}`, { input: 99, output: 99 }, 'own']],
    'DELETE /v1/prices/:model': [['DELETE', `/v1/prices/${B.model}`, undefined, 'own']],
    // copilot
    'GET /v1/agents/:id': [['GET', `/v1/agents/${B.agent}`]],
    'PATCH /v1/agents/:id': [['PATCH', `/v1/agents/${B.agent}`, { maxSteps: 1 }]],
    'DELETE /v1/agents/:id': [['DELETE', `/v1/agents/${B.agent}`]],
    'POST /v1/agents/:id/runs': [['POST', `/v1/agents/${B.agent}/runs`, { input: 'x' }]],
    'GET /v1/tools/:id': [['GET', `/v1/tools/${B.tool}`]],
    'PATCH /v1/tools/:id': [['PATCH', `/v1/tools/${B.tool}`, { credential: 'stolen' }]],
    'DELETE /v1/tools/:id': [['DELETE', `/v1/tools/${B.tool}`]],
    'GET /v1/runs/:id': [['GET', `/v1/runs/${B.run}`]],
    'GET /v1/runs/:id/events': [['GET', `/v1/runs/${B.run}/events`]],
    'POST /v1/runs/:id/cancel': [['POST', `/v1/runs/${B.run}/cancel`]],
    'POST /v1/runs/:id/replay': [['POST', `/v1/runs/${B.run}/replay`, { mode: 'exact' }]],
    'POST /v1/runs/:id/approvals/:callId': [
      ['POST', `/v1/runs/${B.run}/approvals/c1_0`, { decision: 'approve' }],
    ],
    'GET /v1/sql/sources/:id': [
      ['GET', `/v1/sql/sources/${B.sqlSource}`],
      ['GET', '/v1/sql/sources/b-sql-source'],
    ],
    'PATCH /v1/sql/sources/:id': [
      ['PATCH', `/v1/sql/sources/${B.sqlSource}`, { description: 'stolen' }],
    ],
    'DELETE /v1/sql/sources/:id': [['DELETE', `/v1/sql/sources/${B.sqlSource}`]],
    'GET /v1/mcp-servers/:id': [['GET', `/v1/mcp-servers/${B.mcpServer}`]],
    'PATCH /v1/mcp-servers/:id': [
      ['PATCH', `/v1/mcp-servers/${B.mcpServer}`, { url: 'https://attacker.example/mcp' }],
    ],
    'DELETE /v1/mcp-servers/:id': [['DELETE', `/v1/mcp-servers/${B.mcpServer}`]],
    'POST /v1/mcp-servers/:id/refresh': [['POST', `/v1/mcp-servers/${B.mcpServer}/refresh`]],
    'GET /v1/sql/sources/:id/schema': [['GET', `/v1/sql/sources/${B.sqlSource}/schema`]],
    'POST /v1/sql/sources/:id/schema/refresh': [
      ['POST', `/v1/sql/sources/${B.sqlSource}/schema/refresh`],
    ],
    'PUT /v1/sql/sources/:id/annotations': [
      ['PUT', `/v1/sql/sources/${B.sqlSource}/annotations`, { tables: { x: 'stolen' } }],
    ],
    'PUT /v1/sql/sources/:id/policies': [['PUT', `/v1/sql/sources/${B.sqlSource}/policies`, {}]],
    'GET /v1/evals/datasets/:id': [['GET', `/v1/evals/datasets/${B.dataset}`]],
    'GET /v1/evals/runs/:id': [['GET', `/v1/evals/runs/${B.evalRun}`]],
    'GET /v1/webhooks/:id': [['GET', `/v1/webhooks/${B.webhook}`]],
    'PATCH /v1/webhooks/:id': [['PATCH', `/v1/webhooks/${B.webhook}`, { enabled: false }]],
    'DELETE /v1/webhooks/:id': [['DELETE', `/v1/webhooks/${B.webhook}`]],
    'POST /v1/webhooks/:id/rotate-secret': [
      ['POST', `/v1/webhooks/${B.webhook}/rotate-secret`, {}],
    ],
    'GET /v1/webhooks/:id/deliveries': [['GET', `/v1/webhooks/${B.webhook}/deliveries`]],
    'POST /v1/webhooks/:id/deliveries/:deliveryId/retry': [
      ['POST', `/v1/webhooks/${B.webhook}/deliveries/${B.delivery}/retry`],
    ],
    'POST /v1/webhooks/:id/ping': [['POST', `/v1/webhooks/${B.webhook}/ping`]],
    'GET /v1/exports/:id': [['GET', `/v1/exports/${B.export}`]],
    // A link signed for A's tenant naming B's export: RLS finds no archive.
    'GET /v1/exports/:id/archive': [
      ['GET', signExportLink(app.config.RAMPART_SECRET_KEY as string, a.id, B.export, 300).url],
    ],
    'GET /v1/erasures/:id': [['GET', `/v1/erasures/${B.erasure}`]],
    'DELETE /v1/governance/holds/:id': [['DELETE', `/v1/governance/holds/${B.hold}`]],
    'GET /v1/requests/:requestId': [['GET', `/v1/requests/${B.request}`]],
    'GET /v1/sql/sources/:id/annotations': [['GET', `/v1/sql/sources/${B.sqlSource}/annotations`]],
    'GET /v1/sql/sources/:id/policies': [['GET', `/v1/sql/sources/${B.sqlSource}/policies`]],
    // A person's own connection: an API key with no person is refused (403 user_required)
    // before any server id is looked at, whichever tenant's it is.
    'GET /v1/mcp-servers/:id/connection': [
      ['GET', `/v1/mcp-servers/${B.mcpServer}/connection`, undefined, 403],
    ],
    'DELETE /v1/mcp-servers/:id/connection': [
      ['DELETE', `/v1/mcp-servers/${B.mcpServer}/connection`, undefined, 403],
    ],
    'POST /v1/mcp-servers/:id/connect': [
      ['POST', `/v1/mcp-servers/${B.mcpServer}/connect`, {}, 403],
    ],
    'DELETE /admin/v1/tenants/:id': [['DELETE', `/admin/v1/tenants/${b.id}`, undefined, 401]],
    'POST /admin/v1/tenants/:id/restore': [['POST', `/admin/v1/tenants/${b.id}/restore`, {}, 401]],
    'GET /admin/v1/tenants/:id/offboarding': [
      ['GET', `/admin/v1/tenants/${b.id}/offboarding`, undefined, 401],
    ],
    'GET /admin/v1/tenants/:id/analytics/kpis': [
      [
        'GET',
        `/admin/v1/tenants/${b.id}/analytics/kpis?from=2026-01-01&to=2026-01-31`,
        undefined,
        401,
      ],
    ],
    // Operator routes: a tenant's key is refused (401) before any id is looked at.
    'GET /admin/v1/plans/:id': [['GET', `/admin/v1/plans/${b.id}`, undefined, 401]],
    'PATCH /admin/v1/plans/:id': [['PATCH', `/admin/v1/plans/${b.id}`, {}, 401]],
    'PUT /admin/v1/tenants/:id/plan': [
      ['PUT', `/admin/v1/tenants/${b.id}/plan`, { planId: b.id }, 401],
    ],
    'GET /admin/v1/tenants/:id/invoice-preview': [
      ['GET', `/admin/v1/tenants/${b.id}/invoice-preview?period=2026-01`, undefined, 401],
    ],
    'POST /admin/v1/tenants/:id/invoices': [
      ['POST', `/admin/v1/tenants/${b.id}/invoices`, { period: '2026-01' }, 401],
    ],
    'POST /admin/v1/tenants/:id/credits': [
      [
        'POST',
        `/admin/v1/tenants/${b.id}/credits`,
        { period: '2026-01', amountUsd: 1, reason: 'x' },
        401,
      ],
    ],
  });

  it('every route that takes an id has a cross-tenant case', () => {
    expect(Object.keys(cases()).sort()).toEqual(idRoutes(app));
  });

  it("answers 404 on every id route with tenant B's ids and leaves B's rows unchanged", async () => {
    const before = await snapshotB();
    expect(before.me).toMatchObject({ principal: { role: 'member' } });
    for (const [routeKey, attempts] of Object.entries(cases())) {
      for (const [method, url, body, expected = 404] of attempts) {
        const r = await call(method, url, a.ownerKey, body);
        if (expected !== 'own') expect(r.status, `${routeKey}: ${method} ${url}`).toBe(expected);
        else expect(r.status, `${routeKey}: ${method} ${url}`).toBeLessThan(500);
        // B's names and secrets must not come back, except those the request itself sent.
        const sent = url + JSON.stringify(body ?? {});
        for (const marker of B_MARKERS.filter((m) => !sent.includes(m))) {
          expect(r.text, `${method} ${url} leaks ${marker}`).not.toContain(marker);
        }
      }
    }
    expect(await snapshotB()).toEqual(before);
    // A's own rows are untouched by the mixed attempts too.
    const aGroup = await call('GET', `/v1/groups/${A.group}`, a.ownerKey);
    expect(aGroup.body).toMatchObject({ memberCount: 1, members: [{ id: A.user }] });
  });

  it("A's listings contain none of B's rows", async () => {
    for (const [url, bId] of [
      ['/v1/api-keys?includeRevoked=true&limit=200', B.keyId],
      ['/v1/users?limit=200', B.user],
      ['/v1/groups?limit=200', B.group],
      ['/v1/documents?limit=100', B.doc],
      ['/v1/providers', B.provider],
      ['/v1/agents', B.agent],
      ['/v1/tools', B.tool],
      ['/v1/runs', B.run],
      ['/v1/evals/datasets', B.dataset],
      ['/v1/webhooks', B.webhook],
    ] as const) {
      const r = await call('GET', url, a.ownerKey);
      expect(r.status).toBe(200);
      expect(
        (r.body as Listing).data.map((x) => x.id),
        url,
      ).not.toContain(bId);
    }
  });
});
