import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { copilotTenant, copilotWorker } from './helpers/copilot.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { startOAuthMcp, type OAuthMcp } from './helpers/oauth-mcp.js';
import { PEOPLE_ENV, signedInMember, type SignedIn } from './helpers/people.js';
import { startAgentUpstream, type AgentUpstream } from './fakes/fake-openai-agent.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { auditOf } from './helpers/identity-api.js';

const CALLBACK = `${PEOPLE_ENV.PUBLIC_URL}/v1/mcp-servers/oauth/callback`;

interface Events {
  data: { type: string; data: { error?: string; result?: unknown } }[];
}

describe.each(testDrivers())('per-user MCP connections (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let upstream: AgentUpstream;
  let oauth: OAuthMcp;
  let worker: JobQueue;
  let n = 0;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, PEOPLE_ENV, {
      redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined,
    });
    upstream = await startAgentUpstream();
    oauth = await startOAuthMcp();
    oauth.preRegisteredUris.push(CALLBACK);
    worker = copilotWorker(app, t.db);
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
    await oauth?.close();
    await t?.close();
  });

  async function call(
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    who: SignedIn,
    body?: unknown,
  ) {
    const res = await app.app.inject({
      method,
      url,
      headers: method === 'GET' ? { cookie: who.cookie } : who.writeHeaders,
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
    const parsed = res.body ? res.json<Record<string, unknown>>() : {};
    return { status: res.statusCode, body: parsed, text: res.body };
  }

  /** A tenant with a per-user server `tix`, an admin person and two member people. */
  async function setup(auth: Record<string, unknown> = { type: 'oauth-authorization-code' }) {
    const c = await copilotTenant(app, upstream);
    const server = await c.ok<{ id: string; perUser: boolean }>(
      'POST',
      '/v1/mcp-servers',
      c.owner,
      {
        name: 'tix',
        url: oauth.mcpUrl,
        auth,
      },
    );
    expect(server.perUser).toBe(true);
    const admin = await signedInMember(app, c.tenant, `admin${++n}@example.com`, 'admin');
    const alice = await signedInMember(app, c.tenant, `alice${n}@example.com`);
    const bob = await signedInMember(app, c.tenant, `bob${n}@example.com`);
    return { ...c, serverId: server.id, admin, alice, bob };
  }

  /** The whole browser round trip: connect, sign in at the AS as `login`, come back. */
  async function connect(serverId: string, who: SignedIn, login: string) {
    const started = await call('POST', `/v1/mcp-servers/${serverId}/connect`, who, {});
    expect(started.status, started.text).toBe(200);
    const back = await oauth.authorize(String(started.body.authorizationUrl), login);
    expect(`${back.origin}${back.pathname}`).toBe(CALLBACK);
    return { back, done: await call('GET', `/v1/mcp-servers/oauth/callback${back.search}`, who) };
  }

  /** The admin connects and lists the tools with that connection (the tenant's listing). */
  async function listTools(s: Awaited<ReturnType<typeof setup>>) {
    expect((await connect(s.serverId, s.admin, 'admin')).done.status).toBe(200);
    const refreshed = await call('POST', `/v1/mcp-servers/${s.serverId}/refresh`, s.admin);
    expect(refreshed.status, refreshed.text).toBe(200);
  }

  async function runWhoami(s: Awaited<ReturnType<typeof setup>>, who: SignedIn) {
    const agent = await s.ok<{ id: string }>('POST', '/v1/agents', s.owner, {
      name: `w${++n}`,
      instructions: 'x',
      model: 'agent',
      tools: [{ name: 'mcp.tix.whoami', policy: 'always' }],
    });
    upstream.requests.length = 0;
    upstream.script = (_req: unknown, step: number) =>
      step === 1 ? { toolCalls: [{ name: 'mcp_tix_whoami', arguments: {} }] } : { content: 'ok' };
    const run = await call('POST', `/v1/agents/${agent.id}/runs`, who, { input: 'who am i' });
    expect(run.status, run.text).toBeLessThan(300);
    await worker.drain();
    const id = String(run.body.id);
    const events = await call('GET', `/v1/runs/${id}/events`, who);
    return (events.body as unknown as Events).data;
  }

  it('each person connects their own account (DCR, PKCE S256, resource, iss) and runs use their own token', async () => {
    const s = await setup();
    const registrations = oauth.registrations;
    const { done } = await connect(s.serverId, s.admin, 'admin');
    expect(done.status, done.text).toBe(200);
    expect(done.body).toMatchObject({
      serverId: s.serverId,
      connected: true,
      hasRefreshToken: true,
    });
    expect(oauth.registrations).toBe(registrations + 1);
    const asked = oauth.authorizeRequests.at(-1);
    expect(asked?.get('resource')).toBe(oauth.mcpUrl);
    expect(asked?.get('code_challenge_method')).toBe('S256');
    expect(asked?.get('scope')).toBe('tickets:read');
    expect(asked?.get('redirect_uri')).toBe(CALLBACK);

    // The admin lists the tools with their own connection; the listing is the tenant's.
    const refreshed = await call('POST', `/v1/mcp-servers/${s.serverId}/refresh`, s.admin);
    expect(refreshed.status, refreshed.text).toBe(200);
    // An API key has no person behind it: it cannot connect or list a per-user server.
    const byKey = await s.call('POST', `/v1/mcp-servers/${s.serverId}/connect`, s.owner, {});
    expect(byKey.status).toBe(403);

    expect((await connect(s.serverId, s.alice, 'alice')).done.status).toBe(200);
    expect((await connect(s.serverId, s.bob, 'bob')).done.status).toBe(200);
    // The second person reused the registered client.
    expect(oauth.registrations).toBe(registrations + 1);

    const before = oauth.calls.length;
    const aliceRun = await runWhoami(s, s.alice);
    expect(aliceRun.find((e) => e.type === 'tool.call.succeeded')?.data.result).toBe(
      'you are alice',
    );
    const bobRun = await runWhoami(s, s.bob);
    expect(bobRun.find((e) => e.type === 'tool.call.succeeded')?.data.result).toBe('you are bob');
    expect(oauth.calls.slice(before)).toEqual(['alice', 'bob']);
    // Only tokens the server's own authorization server issued ever reached it.
    expect(oauth.mcpAuth.every((h) => h === '' || /^Bearer at-(admin|alice|bob)-/.test(h))).toBe(
      true,
    );
    expect(oauth.mcpAuth.join(' ')).not.toContain(s.owner);

    // The status is the caller's own; the tokens are never shown, and are sealed in the table.
    const mine = await call('GET', `/v1/mcp-servers/${s.serverId}/connection`, s.alice);
    expect(mine.status).toBe(200);
    expect(mine.text).not.toMatch(/at-alice|rt-/);

    // A person without a connection gets a clear tool error telling them to connect.
    const carol = await signedInMember(app, s.tenant, `carol${n}@example.com`);
    const carolRun = await runWhoami(s, carol);
    expect(carolRun.find((e) => e.type === 'tool.call.failed')?.data.error).toMatch(
      new RegExp(
        `not connected your account to MCP server 'tix'.*/v1/mcp-servers/${s.serverId}/connect`,
      ),
    );

    // Disconnecting forgets the tokens (audited).
    const goneId = `rid-disconnect-${s.serverId}`;
    const gone = await app.app.inject({
      method: 'DELETE',
      url: `/v1/mcp-servers/${s.serverId}/connection`,
      headers: { ...s.bob.writeHeaders, 'x-request-id': goneId },
    });
    expect(gone.statusCode).toBe(204);
    expect(await auditOf(t, s.tenant.id, goneId)).toMatchObject([
      { action: 'mcp_connection.deleted', target_id: s.serverId, actor_id: s.bob.userId },
    ]);
    expect((await call('GET', `/v1/mcp-servers/${s.serverId}/connection`, s.bob)).status).toBe(404);
    const bobAgain = await runWhoami(s, s.bob);
    expect(bobAgain.find((e) => e.type === 'tool.call.failed')?.data.error).toMatch(
      /not connected/,
    );
  });

  it('a callback with the wrong iss is refused before the code is redeemed; a state is used once and only by its owner', async () => {
    const s = await setup();
    const startId = `rid-connect-${s.serverId}`;
    const started = await app.app.inject({
      method: 'POST',
      url: `/v1/mcp-servers/${s.serverId}/connect`,
      headers: { ...s.alice.writeHeaders, 'x-request-id': startId },
      payload: {},
    });
    expect(started.statusCode, started.body).toBe(200);
    expect(await auditOf(t, s.tenant.id, startId)).toMatchObject([
      { action: 'mcp_server.client_registered', target_id: s.serverId },
      { action: 'mcp_connection.started', target_id: s.serverId, actor_id: s.alice.userId },
    ]);
    const back = await oauth.authorize(
      started.json<{ authorizationUrl: string }>().authorizationUrl,
      'alice',
    );
    const tokenCalls = oauth.tokenGrants.length;
    // Another person's session cannot complete alice's authorization (RLS hides her flow).
    const forged = new URL(back);
    const stolen = await call('GET', `/v1/mcp-servers/oauth/callback${forged.search}`, s.bob);
    expect(stolen.status).toBe(400);
    expect(stolen.body.code).toBe('mcp_oauth_state_invalid');

    const mixUp = new URL(back);
    mixUp.searchParams.set('iss', 'https://evil.example');
    const requestId = `rid-iss-${s.serverId}`;
    const refused = await app.app.inject({
      method: 'GET',
      url: `/v1/mcp-servers/oauth/callback${mixUp.search}`,
      headers: { cookie: s.alice.cookie, 'x-request-id': requestId },
    });
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.json<{ code: string }>().code).toBe('mcp_oauth_issuer_mismatch');
    expect(oauth.tokenGrants.length).toBe(tokenCalls);
    expect(await auditOf(t, s.tenant.id, requestId)).toMatchObject([
      { action: 'mcp_connection.refused', outcome: 'failure', target_id: s.serverId },
    ]);
    // Single use: the right iss now is too late.
    const replay = await call('GET', `/v1/mcp-servers/oauth/callback${back.search}`, s.alice);
    expect(replay.body.code).toBe('mcp_oauth_state_invalid');
    expect((await call('GET', `/v1/mcp-servers/${s.serverId}/connection`, s.alice)).status).toBe(
      404,
    );
  });

  it('an expired access token is refreshed with the refresh token (rotated) before the call', async () => {
    const s = await setup();
    oauth.accessTtlSeconds = 5; // inside the refresh margin: the first use refreshes
    try {
      expect((await connect(s.serverId, s.alice, 'alice')).done.status).toBe(200);
    } finally {
      oauth.accessTtlSeconds = 3600;
    }
    await listTools(s);
    const grants = oauth.tokenGrants.length;
    const events = await runWhoami(s, s.alice);
    expect(events.find((e) => e.type === 'tool.call.succeeded')?.data.result).toBe('you are alice');
    expect(oauth.tokenGrants.slice(grants)).toEqual(['refresh_token']);
    const conn = await call('GET', `/v1/mcp-servers/${s.serverId}/connection`, s.alice);
    expect(conn.body.refreshedAt).not.toBeNull();
    // The new token lives an hour: the next call uses it without refreshing again.
    await runWhoami(s, s.alice);
    expect(oauth.tokenGrants.slice(grants)).toEqual(['refresh_token']);
  });

  it('connections are per tenant: another tenant sees neither the server nor its people’s connections', async () => {
    const a = await setup();
    expect((await connect(a.serverId, a.alice, 'alice')).done.status).toBe(200);
    const b = await setup();
    await listTools(b);
    expect((await call('GET', `/v1/mcp-servers/${a.serverId}/connection`, b.alice)).status).toBe(
      404,
    );
    expect((await call('POST', `/v1/mcp-servers/${a.serverId}/connect`, b.alice, {})).status).toBe(
      404,
    );
    // b's own server of the same address needs b's people to connect themselves.
    const events = await runWhoami(b, b.alice);
    expect(events.find((e) => e.type === 'tool.call.failed')?.data.error).toMatch(/not connected/);
    // Under RLS, even a read of the table as b's person finds nothing of a's.
    const rows = await t.db.withTenant(
      { tenantId: b.tenant.id, userId: b.alice.userId, groups: [] },
      async (tx) => (await tx.query('SELECT id FROM mcp_user_connections')).rows,
    );
    expect(rows).toEqual([]);
    // …and a's other person does not see alice's row either.
    const bobSees = await t.db.withTenant(
      { tenantId: a.tenant.id, userId: a.bob.userId, groups: [] },
      async (tx) => (await tx.query('SELECT id FROM mcp_user_connections')).rows,
    );
    expect(bobSees).toEqual([]);
    const aliceSees = await t.db.withTenant(
      { tenantId: a.tenant.id, userId: a.alice.userId, groups: [] },
      async (tx) => (await tx.query('SELECT id FROM mcp_user_connections')).rows,
    );
    expect(aliceSees).toHaveLength(1);
  });

  it('without registration at the authorization server, a configured client is used; none configured is a clear error', async () => {
    const noDcr = await startOAuthMcp({ registration: false });
    noDcr.preRegisteredUris.push(CALLBACK);
    try {
      const c = await copilotTenant(app, upstream);
      const bare = await c.ok<{ id: string }>('POST', '/v1/mcp-servers', c.owner, {
        name: 'bare',
        url: noDcr.mcpUrl,
        auth: { type: 'oauth-authorization-code' },
      });
      const alice = await signedInMember(app, c.tenant, `solo${++n}@example.com`);
      const refused = await call('POST', `/v1/mcp-servers/${bare.id}/connect`, alice, {});
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('mcp_oauth_client_required');
      const configured = await c.ok<{ id: string }>('POST', '/v1/mcp-servers', c.owner, {
        name: 'conf',
        url: noDcr.mcpUrl,
        auth: {
          type: 'oauth-authorization-code',
          clientId: noDcr.client.id,
          clientSecret: noDcr.client.secret,
        },
      });
      const started = await call('POST', `/v1/mcp-servers/${configured.id}/connect`, alice, {});
      expect(started.status, started.text).toBe(200);
      const back = await noDcr.authorize(String(started.body.authorizationUrl), 'alice');
      const done = await call('GET', `/v1/mcp-servers/oauth/callback${back.search}`, alice);
      expect(done.status, done.text).toBe(200);
      expect(noDcr.registrations).toBe(0);
    } finally {
      await noDcr.close();
    }
  });
});
