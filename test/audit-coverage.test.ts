import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, ROOT_TOKEN, uniqueSlug, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient, type Call } from './helpers/identity-api.js';

type Method = 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const MUTATING = new Set<string>(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Every registered POST/PUT/PATCH/DELETE route, as "METHOD /path/:param", read from the router. */
function mutatingRoutes(app: TestApp): string[] {
  const tree = app.app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const found = new Set<string>();
  for (const line of tree.split('\n')) {
    const at = line.search(/[├└]── /);
    if (at < 0) continue;
    const m = /^(.*?)(?: \(([^)]*)\))?$/.exec(line.slice(at + 4));
    if (!m?.[1]) continue;
    stack.length = at / 4;
    stack.push(m[1]);
    const path = stack.join('');
    for (const method of (m[2] ?? '').split(', ').filter((x) => MUTATING.has(x))) {
      found.add(`${method} ${path}`);
    }
  }
  return [...found].sort();
}

/**
 * Routes that change nothing a tenant administers, or are recorded elsewhere. Adding a route
 * here needs a reason a reviewer agrees with.
 */
const EXEMPT: Record<string, string> = {
  'POST /v1/chat/completions': 'a model invocation, metered per request in the usage ledger',
  'POST /v1/embeddings': 'a model invocation, metered per request in the usage ledger',
  'POST /v1/search': 'a read sent as POST (the query is a body); changes nothing',
  'POST /v1/ask': 'a read sent as POST; its model calls are metered in the usage ledger',
  'POST /v1/agents/:id/runs':
    "starts a run: every step is in the run's own append-only event log, its model calls in the usage ledger",
  'POST /v1/runs/:id/replay':
    "starts a replay run (marked replayOf): its steps are in its own event log, no tool is called, and a parametric replay's model calls are in the usage ledger",
  'POST /v1/runs/:id/cancel':
    "recorded in the run's event log (run.cancelled and each compensation), which the caller and approvers read",
  'POST /v1/runs/:id/approvals/:callId':
    'audited (approval.granted / approval.denied); it needs a run paused by a model, so test/copilot-runs.test.ts checks the event',
  'POST /v1/sql/ask':
    'needs a model route; its query is audited as sql.queried / sql.refused (test/sql.test.ts) and its model calls are metered',
  'PUT /v1/identity/oidc':
    'audited as oidc_config.updated; needs a live identity provider, so shown in identity-oidc.test.ts',
  'DELETE /v1/identity/oidc':
    'audited as oidc_config.deleted; needs a stored provider, so shown in identity-oidc.test.ts',
  'POST /auth/logout':
    'audited as session.ended; needs a signed-in browser, so shown in identity-oidc.test.ts',
  'DELETE /v1/sessions/:id':
    'audited as session.revoked; needs a signed-in browser, so shown in identity-oidc.test.ts',
  'PUT /v1/identity/jwt':
    'audited as jwt_trust.updated; needs a live issuer, so shown in identity-jwt.test.ts',
  'DELETE /v1/identity/jwt':
    'audited as jwt_trust.deleted; needs a stored issuer, so shown in identity-jwt.test.ts',
  'POST /auth/invitations/accept':
    'audited as invitation.accepted and user.password_set; shown in identity-local.test.ts',
  'POST /auth/:tenantSlug/password':
    'audited as session.started or user.sign_in_failed; shown in identity-local.test.ts',
  'POST /v1/me/totp':
    'starts an enrolment that changes nothing until confirmed (user.totp_enrolled); needs a session',
  'POST /v1/feedback':
    'audited as feedback.recorded; needs the x-request-id of an answered /v1/ask, so shown in test/evals.test.ts',
  'POST /v1/me/totp/confirm': 'audited as user.totp_enrolled; needs a session (identity-local)',
  'POST /mcp':
    'the MCP endpoint: each tool calls the service of its REST route, which audits what it changes',
  'DELETE /mcp': 'the MCP endpoint: stateless, answers 405 (no session to end)',
  'POST /oauth/register':
    'no tenant owns a client: audited as oauth_client.registered in the platform chain; shown in mcp-oauth-server.test.ts',
  'POST /oauth/authorize':
    'audited as oauth.authorized / oauth.denied; needs a signed-in person answering the consent page, so shown in mcp-oauth-server.test.ts',
  'POST /oauth/token':
    'audited as token.issued / token.refreshed / authorization_code.reused / refresh_token.reused; needs an approved code, so shown in mcp-oauth-server.test.ts',
  'DELETE /v1/me/oauth-grants/:id':
    "audited as oauth_grant.revoked; needs a person's grant from an approved code, so shown in mcp-oauth-server.test.ts",
  'POST /oauth/revoke':
    'audited as token.revoked; needs tokens from an approved code, so shown in mcp-oauth-server.test.ts',
  'POST /v1/mcp-servers/:id/connect':
    'audited as mcp_connection.started (and mcp_server.client_registered); needs a live authorization server and a signed-in person, so shown in mcp-user-connections.test.ts',
  'DELETE /v1/mcp-servers/:id/connection':
    'audited as mcp_connection.deleted; needs a connection made at a live authorization server, so shown in mcp-user-connections.test.ts',
  'POST /v1/mcp-servers/:id/refresh':
    'audited as mcp_server.refreshed; needs a live MCP server, so shown in mcp-client.test.ts',
  'POST /admin/v1/plans':
    "the operator's plan catalogue, in no tenant's chain: each version is an immutable row of billing_plans (decision 021)",
  'PATCH /admin/v1/plans/:id':
    'inserts the next immutable plan version (billing_plans); changes no existing row or tenant',
  'PUT /admin/v1/tenants/:id/plan':
    "audited as plan.assigned in the tenant's chain; needs a plan, so shown in billing-plans.test.ts",
  'POST /admin/v1/tenants/:id/invoices':
    "audited as invoice.closed in the tenant's chain; needs a plan, so shown in billing-plans.test.ts",
  'POST /admin/v1/tenants/:id/credits':
    "audited as billing_credit.granted in the tenant's chain; shown in billing-plans.test.ts",
  'POST /v1/webhooks/:id/deliveries/:deliveryId/retry':
    'audited as webhook_delivery.retried; needs a dead delivery, so shown in webhooks.test.ts',
  'POST /scim/v2/Users':
    'a SCIM token’s route, audited as user.provisioned; shown in identity-scim.test.ts',
  'PUT /scim/v2/Users/:id':
    'a SCIM token’s route, audited as user.updated / user.deactivated / user.reactivated (identity-scim)',
  'PATCH /scim/v2/Users/:id':
    'a SCIM token’s route, audited as user.updated / user.deactivated / user.reactivated (identity-scim)',
  'DELETE /scim/v2/Users/:id':
    'a SCIM token’s route, audited as user.removed; shown in identity-scim.test.ts',
  'POST /scim/v2/Groups':
    'a SCIM token’s route, audited as group.created (and group.member_added); identity-scim',
  'PUT /scim/v2/Groups/:id':
    'a SCIM token’s route, audited as group.renamed / group.member_added / group.member_removed (identity-scim)',
  'PATCH /scim/v2/Groups/:id':
    'a SCIM token’s route, audited as group.renamed / group.member_added / group.member_removed (identity-scim)',
  'DELETE /scim/v2/Groups/:id':
    'a SCIM token’s route, audited as group.deleted; shown in identity-scim.test.ts',
  'DELETE /admin/v1/tenants/:id':
    "audited as tenant.disabled in the tenant's own chain, whose keys it stops; shown in governance-offboarding.test.ts",
  'POST /admin/v1/tenants/:id/restore':
    'audited as tenant.restored; needs a disabled tenant, so shown in governance-offboarding.test.ts',
  'POST /auth/token':
    'audited as token.issued, token.refreshed or refresh_token.reused; needs a session, so shown in identity-tokens.test.ts',
};

interface Ctx {
  /** The tenant's owner key (every case acts as the owner). */
  key: string;
  ok(method: Method, url: string, body?: unknown): Promise<{ id: string }>;
}
interface Case {
  method: Method;
  url: string;
  body?: unknown;
  /** The key whose tenant holds the event, when it is not the acting owner's (a new tenant). */
  eventKey?: (res: Call) => string;
}

const TOOL = {
  description: 'Audited action.',
  parameters: { type: 'object', properties: {} },
  request: { method: 'POST', url: 'https://actions.example.com/run' },
};

let seq = 0;
const name = (p: string): string => `${p}-${++seq}`;

/** A valid request for each mutating route, with what it needs created first. */
const CASES: Record<string, (c: Ctx) => Promise<Case>> = {
  'POST /admin/v1/tenants': async () => ({
    method: 'POST',
    url: '/admin/v1/tenants',
    body: { slug: uniqueSlug(), name: 'Audited' },
    eventKey: (res) => (res.body as { apiKey: string }).apiKey,
  }),
  'POST /v1/api-keys': async () => ({
    method: 'POST',
    url: '/v1/api-keys',
    body: { name: name('k'), role: 'member' },
  }),
  'PATCH /v1/api-keys/:id': async (c) => ({
    method: 'PATCH',
    url: `/v1/api-keys/${(await c.ok('POST', '/v1/api-keys', { name: name('k'), role: 'member' })).id}`,
    body: { name: name('renamed') },
  }),
  'DELETE /v1/api-keys/:id': async (c) => ({
    method: 'DELETE',
    url: `/v1/api-keys/${(await c.ok('POST', '/v1/api-keys', { name: name('k'), role: 'member' })).id}`,
  }),
  'POST /v1/users': async () => ({
    method: 'POST',
    url: '/v1/users',
    body: { email: `${name('u')}@example.com`, role: 'member' },
  }),
  'PATCH /v1/users/:id': async (c) => ({
    method: 'PATCH',
    url: `/v1/users/${(await c.ok('POST', '/v1/users', { email: `${name('u')}@example.com`, role: 'member' })).id}`,
    body: { role: 'viewer' },
  }),
  'DELETE /v1/users/:id': async (c) => ({
    method: 'DELETE',
    url: `/v1/users/${(await c.ok('POST', '/v1/users', { email: `${name('u')}@example.com`, role: 'member' })).id}`,
  }),
  'DELETE /v1/users/:id/sessions': async (c) => ({
    method: 'DELETE',
    url: `/v1/users/${(await c.ok('POST', '/v1/users', { email: `${name('u')}@example.com`, role: 'member' })).id}/sessions`,
  }),
  'POST /v1/users/invitations': async () => ({
    method: 'POST',
    url: '/v1/users/invitations',
    body: { email: `${name('i')}@example.com`, role: 'member' },
  }),
  'POST /v1/identity/scim-token': async () => ({ method: 'POST', url: '/v1/identity/scim-token' }),
  'DELETE /v1/identity/scim-token': async (c) => {
    await c.ok('POST', '/v1/identity/scim-token');
    return { method: 'DELETE', url: '/v1/identity/scim-token' };
  },
  'PUT /v1/identity/settings': async () => ({
    method: 'PUT',
    url: '/v1/identity/settings',
    body: { localAccountsEnabled: true },
  }),
  'POST /v1/groups': async () => ({ method: 'POST', url: '/v1/groups', body: { name: name('g') } }),
  'DELETE /v1/groups/:id': async (c) => ({
    method: 'DELETE',
    url: `/v1/groups/${(await c.ok('POST', '/v1/groups', { name: name('g') })).id}`,
  }),
  'PUT /v1/groups/:id/members/:userId': async (c) => {
    const group = await c.ok('POST', '/v1/groups', { name: name('g') });
    const user = await c.ok('POST', '/v1/users', {
      email: `${name('u')}@example.com`,
      role: 'member',
    });
    return { method: 'PUT', url: `/v1/groups/${group.id}/members/${user.id}` };
  },
  'DELETE /v1/groups/:id/members/:userId': async (c) => {
    const group = await c.ok('POST', '/v1/groups', { name: name('g') });
    const user = await c.ok('POST', '/v1/users', {
      email: `${name('u')}@example.com`,
      role: 'member',
    });
    await c.ok('PUT', `/v1/groups/${group.id}/members/${user.id}`);
    return { method: 'DELETE', url: `/v1/groups/${group.id}/members/${user.id}` };
  },
  'POST /v1/providers': async () => ({ method: 'POST', url: '/v1/providers', body: provider() }),
  'PATCH /v1/providers/:id': async (c) => ({
    method: 'PATCH',
    url: `/v1/providers/${(await c.ok('POST', '/v1/providers', provider())).id}`,
    body: { apiKey: 'sk-rotated-provider-secret' },
  }),
  'DELETE /v1/providers/:id': async (c) => ({
    method: 'DELETE',
    url: `/v1/providers/${(await c.ok('POST', '/v1/providers', provider())).id}`,
  }),
  'PUT /v1/prices/:model': async () => ({
    method: 'PUT',
    url: `/v1/prices/${name('m')}`,
    body: { input: 1, output: 2 },
  }),
  'DELETE /v1/prices/:model': async (c) => {
    const model = name('m');
    await c.ok('PUT', `/v1/prices/${model}`, { input: 1, output: 2 });
    return { method: 'DELETE', url: `/v1/prices/${model}` };
  },
  'POST /v1/routes': async (c) => ({
    method: 'POST',
    url: '/v1/routes',
    body: { alias: name('r'), targets: [{ provider: await providerName(c), model: 'm' }] },
  }),
  'PUT /v1/routes/:alias': async (c) => ({
    method: 'PUT',
    url: `/v1/routes/${name('r')}`,
    body: { targets: [{ provider: await providerName(c), model: 'm' }] },
  }),
  'DELETE /v1/routes/:alias': async (c) => {
    const alias = name('r');
    await c.ok('POST', '/v1/routes', {
      alias,
      targets: [{ provider: await providerName(c), model: 'm' }],
    });
    return { method: 'DELETE', url: `/v1/routes/${alias}` };
  },
  'PUT /v1/limits': async () => ({ method: 'PUT', url: '/v1/limits', body: { rpm: 600 } }),
  'PUT /v1/knowledge/settings': async () => ({
    method: 'PUT',
    url: '/v1/knowledge/settings',
    body: { piiMasking: false },
  }),
  'PUT /v1/governance/data-policy': async () => ({
    method: 'PUT',
    url: '/v1/governance/data-policy',
    body: { requirePiiRedaction: true },
  }),
  'POST /v1/documents': async () => ({
    method: 'POST',
    url: '/v1/documents',
    body: { title: name('d'), text: 'Audited text.' },
  }),
  'POST /v1/evals/datasets': async () => ({
    method: 'POST',
    url: '/v1/evals/datasets',
    body: { name: name('golden'), cases: [{ id: 'c1', target: 'search', input: 'refunds' }] },
  }),
  'POST /v1/evals/runs': async (c) => {
    const dataset = name('golden');
    await c.ok('POST', '/v1/evals/datasets', {
      name: dataset,
      cases: [{ id: 'c1', target: 'search', input: 'refunds' }],
    });
    return { method: 'POST', url: '/v1/evals/runs', body: { dataset } };
  },
  'POST /v1/webhooks': async () => ({
    method: 'POST',
    url: '/v1/webhooks',
    body: { url: 'https://hooks.example.com/rampart', events: ['document.ready'] },
  }),
  'PATCH /v1/webhooks/:id': async (c) => ({
    method: 'PATCH',
    url: `/v1/webhooks/${await webhook(c)}`,
    body: { enabled: false },
  }),
  'DELETE /v1/webhooks/:id': async (c) => ({
    method: 'DELETE',
    url: `/v1/webhooks/${await webhook(c)}`,
  }),
  'POST /v1/webhooks/:id/rotate-secret': async (c) => ({
    method: 'POST',
    url: `/v1/webhooks/${await webhook(c)}/rotate-secret`,
    body: { overlapSeconds: 60 },
  }),
  'POST /v1/webhooks/:id/ping': async (c) => ({
    method: 'POST',
    url: `/v1/webhooks/${await webhook(c)}/ping`,
  }),
  'PUT /v1/governance/retention': async () => ({
    method: 'PUT',
    url: '/v1/governance/retention',
    body: { usage: { days: 30 } },
  }),
  'PUT /v1/governance/holds': async () => ({
    method: 'PUT',
    url: '/v1/governance/holds',
    body: { scope: 'user', subjectId: randomUUID(), reason: 'audited' },
  }),
  'DELETE /v1/governance/holds/:id': async (c) => ({
    method: 'DELETE',
    url: `/v1/governance/holds/${(await c.ok('PUT', '/v1/governance/holds', { scope: 'document', subjectId: randomUUID(), reason: 'x' })).id}`,
  }),
  'POST /v1/exports': async () => ({
    method: 'POST',
    url: '/v1/exports',
    body: { subject: { tenant: true } },
  }),
  'POST /v1/erasures': async (c) => ({
    method: 'POST',
    url: '/v1/erasures',
    body: {
      userId: (
        await c.ok('POST', '/v1/users', { email: `${name('e')}@example.com`, role: 'member' })
      ).id,
      documents: 'delete',
    },
  }),
  'POST /v1/mcp-servers': async () => ({
    method: 'POST',
    url: '/v1/mcp-servers',
    body: { name: name('m'), url: 'https://mcp.example/mcp' },
  }),
  'PATCH /v1/mcp-servers/:id': async (c) => ({
    method: 'PATCH',
    url: `/v1/mcp-servers/${(await c.ok('POST', '/v1/mcp-servers', { name: name('m'), url: 'https://mcp.example/mcp' })).id}`,
    body: { defaultPolicy: 'ask' },
  }),
  'DELETE /v1/mcp-servers/:id': async (c) => ({
    method: 'DELETE',
    url: `/v1/mcp-servers/${(await c.ok('POST', '/v1/mcp-servers', { name: name('m'), url: 'https://mcp.example/mcp' })).id}`,
  }),
  'POST /v1/sql/sources': async () => ({
    method: 'POST',
    url: '/v1/sql/sources',
    body: { name: name('s'), type: 'sample' },
  }),
  'PATCH /v1/sql/sources/:id': async (c) => ({
    method: 'PATCH',
    url: `/v1/sql/sources/${await sampleSource(c)}`,
    body: { description: 'Audited.' },
  }),
  'DELETE /v1/sql/sources/:id': async (c) => ({
    method: 'DELETE',
    url: `/v1/sql/sources/${await sampleSource(c)}`,
  }),
  'POST /v1/sql/sources/:id/schema/refresh': async (c) => ({
    method: 'POST',
    url: `/v1/sql/sources/${await sampleSource(c)}/schema/refresh`,
  }),
  'PUT /v1/sql/sources/:id/annotations': async (c) => ({
    method: 'PUT',
    url: `/v1/sql/sources/${await sampleSource(c)}/annotations`,
    body: { examples: [{ question: 'How many?', sql: 'SELECT count(*) FROM restaurant' }] },
  }),
  'PUT /v1/sql/sources/:id/policies': async (c) => ({
    method: 'PUT',
    url: `/v1/sql/sources/${await sampleSource(c)}/policies`,
    body: { masks: [{ table: 'restaurant', column: 'rating', exceptGroups: [] }] },
  }),
  'POST /v1/sql/query': async (c) => ({
    method: 'POST',
    url: '/v1/sql/query',
    body: { source: await sampleSource(c), sql: 'SELECT count(*) FROM restaurant' },
  }),
  'DELETE /v1/documents/:id': async (c) => ({
    method: 'DELETE',
    url: `/v1/documents/${(await c.ok('POST', '/v1/documents', { title: name('d'), text: 'x' })).id}`,
  }),
  'POST /v1/agents': async () => ({
    method: 'POST',
    url: '/v1/agents',
    body: { name: name('a'), instructions: 'i', model: 'default' },
  }),
  'PATCH /v1/agents/:id': async (c) => ({
    method: 'PATCH',
    url: `/v1/agents/${(await c.ok('POST', '/v1/agents', { name: name('a'), instructions: 'i', model: 'default' })).id}`,
    body: { maxSteps: 3 },
  }),
  'DELETE /v1/agents/:id': async (c) => ({
    method: 'DELETE',
    url: `/v1/agents/${(await c.ok('POST', '/v1/agents', { name: name('a'), instructions: 'i', model: 'default' })).id}`,
  }),
  'POST /v1/tools': async () => ({
    method: 'POST',
    url: '/v1/tools',
    body: { name: name('t'), ...TOOL },
  }),
  'PATCH /v1/tools/:id': async (c) => ({
    method: 'PATCH',
    url: `/v1/tools/${(await c.ok('POST', '/v1/tools', { name: name('t'), ...TOOL })).id}`,
    body: { retries: 2 },
  }),
  'DELETE /v1/tools/:id': async (c) => ({
    method: 'DELETE',
    url: `/v1/tools/${(await c.ok('POST', '/v1/tools', { name: name('t'), ...TOOL })).id}`,
  }),
};

function provider(): Record<string, string> {
  return {
    name: name('p'),
    type: 'openai',
    baseUrl: 'https://upstream.example.com/v1',
    apiKey: 'sk-audited-provider-secret',
  };
}

async function webhook(c: Ctx): Promise<string> {
  return (
    await c.ok('POST', '/v1/webhooks', {
      url: 'https://hooks.example.com/rampart',
      events: ['document.ready'],
    })
  ).id;
}

async function sampleSource(c: Ctx): Promise<string> {
  return (await c.ok('POST', '/v1/sql/sources', { name: name('s'), type: 'sample' })).id;
}

async function providerName(c: Ctx): Promise<string> {
  const body = provider();
  await c.ok('POST', '/v1/providers', body);
  return body.name as string;
}

describe.each(testDrivers())('every mutating route writes an audit event (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let call: ReturnType<typeof apiClient>;
  let owner: string;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    // A master key so provider credentials can be stored.
    app = await createTestApp(t.db, { RAMPART_MASTER_KEY: randomBytes(32).toString('base64') });
    call = apiClient(app);
    owner = (await app.createTenant()).ownerKey;
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('each mutating route has a case here or a stated exemption (add new routes to CASES)', () => {
    expect([...Object.keys(CASES), ...Object.keys(EXEMPT)].sort()).toEqual(mutatingRoutes(app));
  });

  it.each(Object.keys(CASES))('%s', async (routeKey) => {
    const ctx: Ctx = {
      key: owner,
      async ok(method, url, body) {
        const r = await call(method, url, owner, body);
        expect(r.status, `setup ${method} ${url}: ${r.text}`).toBeLessThan(300);
        return r.body as { id: string };
      },
    };
    const make = CASES[routeKey];
    if (!make) throw new Error(`no case for ${routeKey}`);
    const c = await make(ctx);
    const key = c.url.startsWith('/admin/') ? ROOT_TOKEN : owner;
    const res = await call(c.method, c.url, key, c.body);
    expect(res.status, `${routeKey}: ${res.text}`).toBeLessThan(300);
    const listing = await call('GET', '/v1/audit-events?limit=500', c.eventKey?.(res) ?? owner);
    const events = (listing.body as { data: { requestId: string | null; outcome: string }[] }).data;
    const mine = events.filter((e) => e.requestId === res.requestId);
    expect(mine.length, `${routeKey} wrote no audit event`).toBeGreaterThan(0);
    expect(mine.every((e) => e.outcome === 'success')).toBe(true);
  });
});
