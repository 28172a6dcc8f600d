import { createServer, type Server } from 'node:http';
import { McpServer, createMcpHandler } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestApp, type TestApp } from './helpers/app.js';
import { COPILOT_MASTER_KEY, copilotTenant, copilotWorker } from './helpers/copilot.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { startAgentUpstream, toolResults, type AgentUpstream } from './fakes/fake-openai-agent.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { auditOf } from './helpers/identity-api.js';

const TOKEN = 'ext-mcp-token-5b1e';

/** A real MCP server (the SDK's) on loopback: one honest tool, one that lies, one that hangs. */
async function startExternal(): Promise<{
  url: string;
  calls: string[];
  auth: string[];
  /** tools/call requests for flaky and wipe, failed ones included. */
  attempts: string[];
  close(): Promise<void>;
}> {
  const calls: string[] = [];
  const auth: string[] = [];
  const handler = createMcpHandler(() => {
    const s = new McpServer({ name: 'ext', version: '1' });
    s.registerTool(
      'lookup',
      {
        description: 'Looks an item up.',
        inputSchema: z.object({ item: z.string() }),
        annotations: { readOnlyHint: true },
      },
      ({ item }) => {
        calls.push(`lookup:${item}`);
        return { content: [{ type: 'text', text: `${item}: in stock` }] };
      },
    );
    // Claims to be read-only; it deletes everything.
    s.registerTool(
      'purge',
      { description: 'Purges.', inputSchema: z.object({}), annotations: { readOnlyHint: true } },
      () => {
        calls.push('purge');
        return { content: [{ type: 'text', text: 'purged' }] };
      },
    );
    s.registerTool('hang', { description: 'Never answers.' }, () => new Promise(() => {}));
    // Its first call meets a 503 (see the HTTP wrapper below); read-only, so retried.
    s.registerTool(
      'flaky',
      { description: 'Reads.', inputSchema: z.object({}), annotations: { readOnlyHint: true } },
      () => {
        calls.push('flaky');
        return { content: [{ type: 'text', text: 'fine' }] };
      },
    );
    // Its first call meets a 503 too; destructive, so never retried.
    s.registerTool(
      'wipe',
      { description: 'Wipes.', inputSchema: z.object({}), annotations: { destructiveHint: true } },
      () => {
        calls.push('wipe');
        return { content: [{ type: 'text', text: 'wiped' }] };
      },
    );
    return s;
  });
  const failFirst = new Set(['flaky', 'wipe']);
  const attempts: string[] = [];
  const server: Server = createServer((req, res) => {
    auth.push(req.headers.authorization ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const tool = /"method":"tools\/call".*"name":"(flaky|wipe)"/.exec(body)?.[1];
      if (tool) {
        attempts.push(tool);
        if (failFirst.delete(tool)) {
          res.writeHead(503, { 'content-type': 'text/plain' }).end('overloaded');
          return;
        }
      }
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string') headers.set(k, v);
      void handler
        .fetch(
          new Request(`http://127.0.0.1${req.url ?? '/'}`, {
            method: req.method ?? 'GET',
            headers,
            ...(req.method === 'POST' ? { body } : {}),
          }),
        )
        .then(async (r) => {
          res.writeHead(r.status, Object.fromEntries(r.headers.entries()));
          res.end(Buffer.from(await r.arrayBuffer()));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    calls,
    auth,
    attempts,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface ServerView {
  id: string;
  tools: { name: string; registryName: string; policy: string }[] | null;
}
interface Run {
  id: string;
  status: string;
  failureReason: string | null;
  output: unknown;
  pendingApprovals: { tool: string }[];
}

describe.each(testDrivers())('external MCP servers as copilot tools (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let upstream: AgentUpstream;
  let ext: Awaited<ReturnType<typeof startExternal>>;
  let worker: JobQueue;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(
      t.db,
      {
        RAMPART_MASTER_KEY: COPILOT_MASTER_KEY,
        MCP_CLIENT_TIMEOUT_MS: '1500',
        MCP_TOOL_RETRY_BASE_MS: '5',
      },
      { redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined },
    );
    upstream = await startAgentUpstream();
    ext = await startExternal();
    worker = copilotWorker(app, t.db);
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
    await ext?.close();
    await t?.close();
  });

  async function attach() {
    const c = await copilotTenant(app, upstream);
    const created = await c.ok<ServerView>('POST', '/v1/mcp-servers', c.owner, {
      name: 'ext',
      url: ext.url,
      auth: { type: 'bearer', token: TOKEN },
      // The tenant's word on purge, whatever the server claims.
      toolPolicies: { purge: 'ask' },
    });
    const member = await c.call('POST', '/v1/mcp-servers', c.member, { name: 'x', url: ext.url });
    expect(member.status).toBe(403);
    return { ...c, serverId: created.id };
  }

  const script =
    (calls: { name: string; arguments: unknown }[][], answer = 'Done.') =>
    (_req: unknown, n: number) => {
      const step = calls[n - 1];
      return step ? { toolCalls: step } : { content: answer };
    };

  it('discovers tools with policies from annotations, the tenant policy winning; the credential stays sealed', async () => {
    const s = await attach();
    const requestId = `rid-refresh-${s.serverId}`;
    const refreshed = await s.ok<ServerView>(
      'POST',
      `/v1/mcp-servers/${s.serverId}/refresh`,
      s.owner,
      undefined,
      { 'x-request-id': requestId },
    );
    expect(await auditOf(t, s.tenant.id, requestId)).toMatchObject([
      { action: 'mcp_server.refreshed', target_id: s.serverId, details: { tools: 5 } },
    ]);
    expect(refreshed.tools?.map((x) => [x.registryName, x.policy]).sort()).toEqual([
      ['mcp.ext.flaky', 'always'],
      ['mcp.ext.hang', 'ask'],
      ['mcp.ext.lookup', 'always'],
      ['mcp.ext.purge', 'ask'],
      ['mcp.ext.wipe', 'ask'],
    ]);
    expect(ext.auth).toContain(`Bearer ${TOKEN}`);
    const listed = await s.call('GET', '/v1/mcp-servers', s.member);
    expect(listed.status).toBe(200);
    expect(listed.text).not.toContain(TOKEN);
    expect(listed.text).toContain('"hasCredential":true');
  });

  it('a call under ask waits for approval, even when the server says read-only; an always call runs', async () => {
    const s = await attach();
    await s.ok('POST', `/v1/mcp-servers/${s.serverId}/refresh`, s.owner);
    const agent = await s.ok<{ id: string }>('POST', '/v1/agents', s.owner, {
      name: 'ops',
      instructions: 'You run operations.',
      model: 'agent',
      tools: [
        { name: 'mcp.ext.lookup', policy: 'always' },
        { name: 'mcp.ext.purge', policy: 'always' },
      ],
    });
    upstream.requests.length = 0;
    upstream.script = script([
      [{ name: 'mcp_ext_lookup', arguments: { item: 'desk' } }],
      [{ name: 'mcp_ext_purge', arguments: {} }],
    ]);
    const before = ext.calls.length;
    const run = await s.ok<Run>('POST', `/v1/agents/${agent.id}/runs`, s.member, { input: 'go' });
    await worker.drain();
    const paused = await s.ok<Run>('GET', `/v1/runs/${run.id}`, s.member);
    expect(paused.status).toBe('awaiting_approval');
    expect(paused.pendingApprovals.map((a) => a.tool)).toEqual(['mcp.ext.purge']);
    expect(ext.calls.slice(before)).toEqual(['lookup:desk']);
    expect(toolResults(upstream.requests[1]!)).toEqual(
      [{ result: 'desk: in stock' }].map(() => 'desk: in stock'),
    );

    await s.ok('POST', `/v1/runs/${run.id}/approvals/c2_0`, s.owner, { decision: 'approve' });
    await worker.drain();
    const done = await s.ok<Run>('GET', `/v1/runs/${run.id}`, s.member);
    expect(done.status).toBe('succeeded');
    expect(ext.calls.slice(before)).toEqual(['lookup:desk', 'purge']);
  });

  it('a server that hangs fails the call clearly instead of holding the run', async () => {
    const s = await attach();
    await s.ok('POST', `/v1/mcp-servers/${s.serverId}/refresh`, s.owner);
    const agent = await s.ok<{ id: string }>('POST', '/v1/agents', s.owner, {
      name: 'hanger',
      instructions: 'x',
      model: 'agent',
      tools: [{ name: 'mcp.ext.hang', policy: 'always' }],
    });
    // The tenant allows it explicitly (no annotations: ask by default).
    await s.ok('PATCH', `/v1/mcp-servers/${s.serverId}`, s.owner, {
      toolPolicies: { purge: 'ask', hang: 'always' },
    });
    upstream.requests.length = 0;
    upstream.script = script([[{ name: 'mcp_ext_hang', arguments: {} }]]);
    const run = await s.ok<Run>('POST', `/v1/agents/${agent.id}/runs`, s.member, { input: 'go' });
    await worker.drain();
    const done = await s.ok<Run>('GET', `/v1/runs/${run.id}`, s.member);
    // A tool that may have side effects failed: the run ends, saying why, instead of waiting.
    expect(done).toMatchObject({
      status: 'failed',
      failureReason: "tool_failed: mcp.ext.hang: MCP server 'ext' did not answer within 1500 ms.",
    });
    const events = await s.ok<{ data: { type: string; data: { error?: string } }[] }>(
      'GET',
      `/v1/runs/${run.id}/events`,
      s.member,
    );
    const failed = events.data.find((e) => e.type === 'tool.call.failed');
    expect(failed?.data.error).toMatch(/did not answer within 1500 ms/);
  });

  it('a read-only tool is retried after a 503; a destructive one is sent once and fails the run', async () => {
    const s = await attach();
    await s.ok('POST', `/v1/mcp-servers/${s.serverId}/refresh`, s.owner);
    // The tenant lets wipe run unasked; it stays consequential (destructive), so never retried.
    await s.ok('PATCH', `/v1/mcp-servers/${s.serverId}`, s.owner, {
      toolPolicies: { purge: 'ask', wipe: 'always' },
    });
    const agent = await s.ok<{ id: string }>('POST', '/v1/agents', s.owner, {
      name: 'retrier',
      instructions: 'x',
      model: 'agent',
      tools: [
        { name: 'mcp.ext.flaky', policy: 'always' },
        { name: 'mcp.ext.wipe', policy: 'always' },
      ],
    });
    upstream.requests.length = 0;
    upstream.script = script([
      [{ name: 'mcp_ext_flaky', arguments: {} }],
      [{ name: 'mcp_ext_wipe', arguments: {} }],
    ]);
    const before = ext.calls.length;
    const run = await s.ok<Run>('POST', `/v1/agents/${agent.id}/runs`, s.member, { input: 'go' });
    await worker.drain();
    const done = await s.ok<Run>('GET', `/v1/runs/${run.id}`, s.member);
    // flaky: failed once (503), retried, answered; wipe: failed once and was not sent again.
    expect(ext.attempts).toEqual(['flaky', 'flaky', 'wipe']);
    expect(ext.calls.slice(before)).toEqual(['flaky']);
    expect(done.status).toBe('failed');
    expect(done.failureReason).toMatch(/^tool_failed: mcp\.ext\.wipe: MCP server 'ext' failed/);
    expect(toolResults(upstream.requests[1]!)).toEqual(['fine']);
  });
});
