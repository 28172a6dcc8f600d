import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { COPILOT_MASTER_KEY, copilotTenant, copilotWorker } from './helpers/copilot.js';
import { apiClient } from './helpers/identity-api.js';
import { startAgentUpstream, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';
import type { JobQueue } from '../src/platform/queue/queue.js';

const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

const PARAMS = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] };

describe.each(testDrivers())('copilot definitions, permission bounds and spans (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let upstream: AgentUpstream;
  let action: ActionServer;
  let worker: JobQueue;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, { RAMPART_MASTER_KEY: COPILOT_MASTER_KEY });
    upstream = await startAgentUpstream();
    action = await startActionServer();
    worker = copilotWorker(app, t.db);
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
    await action?.close();
    await t?.close();
  });

  it('validates definitions; only admins define; the credential is never shown', async () => {
    const c = await copilotTenant(app, upstream);
    const tool = (over: Record<string, unknown>) => ({
      name: 'crm.lookup',
      description: 'Looks a customer up.',
      parameters: PARAMS,
      request: { method: 'GET', url: `${action.baseUrl}/customers/{id}` },
      ...over,
    });
    const agent = (over: Record<string, unknown>) => ({
      name: 'a',
      instructions: 'i',
      model: 'agent',
      ...over,
    });
    expect((await c.call('POST', '/v1/tools', c.member, tool({}))).status).toBe(403);
    expect((await c.call('POST', '/v1/agents', c.member, agent({}))).status).toBe(403);
    for (const bad of [
      tool({ parameters: { type: 'string' } }),
      tool({ parameters: { type: 'object', properties: { id: { type: 'nonsense' } } } }),
      tool({ name: 'knowledge.fake' }),
      tool({ name: 'Bad Name' }),
      tool({ request: { method: 'GET', url: 'file:///etc/passwd' } }),
      tool({ permission: 'everything:all' }),
    ]) {
      const r = await c.call('POST', '/v1/tools', c.owner, bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
    }
    const created = await c.ok<{ id: string; hasCredential: boolean }>(
      'POST',
      '/v1/tools',
      c.owner,
      tool({ credential: 'crm-cred-5521' }),
    );
    expect(created.hasCredential).toBe(true);
    expect((await c.call('POST', '/v1/tools', c.owner, tool({}))).status).toBe(409);
    const listing = await c.call('GET', '/v1/tools', c.member);
    expect(listing.text).not.toContain('crm-cred-5521');
    expect(
      (listing.body as { data: { name: string; builtIn: boolean }[] }).data.map((x) => x.name),
    ).toEqual(['knowledge.search', 'knowledge.ask', 'sql.query', 'sql.ask', 'crm.lookup']);
    const cleared = await c.ok<{ hasCredential: boolean }>(
      'PATCH',
      `/v1/tools/${created.id}`,
      c.owner,
      { credential: null },
    );
    expect(cleared.hasCredential).toBe(false);
    const stored = await t.asOwner((q) =>
      q.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM tools WHERE id = $1 AND credential_ciphertext IS NULL`,
        [created.id],
      ),
    );
    expect(stored.rows[0]?.n).toBe(1);

    for (const bad of [
      agent({ tools: [{ name: 'crm.unknown', policy: 'always' }] }),
      agent({ tools: [{ name: 'crm.lookup', policy: 'sometimes' }] }),
      agent({
        tools: [
          { name: 'crm.lookup', policy: 'always' },
          { name: 'crm.lookup', policy: 'ask' },
        ],
      }),
      agent({ outputSchema: { type: 'object', properties: { x: { type: 7 } } } }),
      agent({ maxSteps: 0 }),
    ]) {
      const r = await c.call('POST', '/v1/agents', c.owner, bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
    }
    const a = await c.ok<{ id: string }>(
      'POST',
      '/v1/agents',
      c.owner,
      agent({ tools: [{ name: 'crm.lookup', policy: 'always' }] }),
    );
    expect((await c.call('POST', '/v1/agents', c.owner, agent({}))).status).toBe(409);
    const patched = await c.ok<{ maxSteps: number; tools: unknown[] }>(
      'PATCH',
      `/v1/agents/${a.id}`,
      c.owner,
      { maxSteps: 4 },
    );
    expect(patched).toMatchObject({ maxSteps: 4, tools: [{ name: 'crm.lookup' }] });
    expect(
      (
        await c.call('PATCH', `/v1/agents/${a.id}`, c.owner, {
          tools: [{ name: 'nope', policy: 'ask' }],
        })
      ).status,
    ).toBe(400);
  });

  it('with the address guard on, an action on a private or metadata address is refused', async () => {
    const guarded = await createTestApp(t.db, {
      RAMPART_MASTER_KEY: COPILOT_MASTER_KEY,
      OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'false',
    });
    try {
      const tenant = await guarded.createTenant();
      const call = apiClient(guarded);
      const define = (url: string, compensate?: string) =>
        call('POST', '/v1/tools', tenant.ownerKey, {
          name: `x${Math.random().toString(36).slice(2, 8)}`,
          description: 'd',
          parameters: PARAMS,
          request: { method: 'POST', url },
          ...(compensate ? { compensate: { method: 'POST', url: compensate } } : {}),
        });
      for (const [url, compensate] of [
        ['http://127.0.0.1:8080/admin'],
        ['http://169.254.169.254/latest/meta-data/{id}'],
        ['http://localhost/x'],
        ['https://api.example.com/orders', 'http://10.0.0.5/undo'],
      ] as const) {
        const r = await define(url, compensate);
        expect(r.status, `${url} ${compensate ?? ''}: ${r.text}`).toBe(400);
      }
      // A host that is itself a placeholder is checked at connection time instead.
      expect((await define('https://{id}.example.com/x')).status).toBe(201);
    } finally {
      await guarded.close();
    }
  });

  it("a tool's permission bounds the run by its caller's, whatever the agent allows; spans follow GenAI conventions", async () => {
    const c = await copilotTenant(app, upstream);
    await c.ok('POST', '/v1/tools', c.owner, {
      name: 'crm.erase',
      description: 'Erases a customer.',
      parameters: PARAMS,
      request: { method: 'DELETE', url: `${action.baseUrl}/customers/{id}` },
      permission: 'documents:delete',
    });
    const a = await c.ok<{ id: string }>('POST', '/v1/agents', c.owner, {
      name: 'eraser',
      instructions: 'Erase.',
      model: 'agent',
      tools: [{ name: 'crm.erase', policy: 'always' }],
    });
    upstream.script = (req) =>
      req.messages.some((m) => m.role === 'tool')
        ? { content: 'Done.' }
        : { toolCalls: [{ name: 'crm_erase', arguments: { id: 'cu-1' } }] };
    action.respond = () => ({ status: 204 });
    const erase = () => action.to('DELETE /customers/cu-1').length;
    const before = erase();
    exporter.reset();

    const byMember = await c.ok<{ id: string }>('POST', `/v1/agents/${a.id}/runs`, c.member, {
      input: 'Erase cu-1',
    });
    await worker.drain();
    expect(erase()).toBe(before);
    const events = await c.ok<{ data: { type: string; data: Record<string, unknown> }[] }>(
      'GET',
      `/v1/runs/${byMember.id}/events`,
      c.member,
    );
    expect(events.data.find((e) => e.type === 'tool.call.denied')?.data).toMatchObject({
      reason: 'permission',
      permission: 'documents:delete',
    });

    const byAdmin = await c.ok<{ id: string }>('POST', `/v1/agents/${a.id}/runs`, c.admin, {
      input: 'Erase cu-1',
    });
    await worker.drain();
    expect(erase()).toBe(before + 1);
    expect((await c.ok<{ status: string }>('GET', `/v1/runs/${byAdmin.id}`, c.admin)).status).toBe(
      'succeeded',
    );

    const spans = exporter.getFinishedSpans();
    const agentSpans = spans.filter(
      (s) => s.attributes['gen_ai.operation.name'] === 'invoke_agent',
    );
    expect(agentSpans.map((s) => s.attributes['gen_ai.agent.name'])).toEqual(['eraser', 'eraser']);
    const toolSpans = spans.filter((s) => s.attributes['gen_ai.operation.name'] === 'execute_tool');
    expect(toolSpans.map((s) => [s.name, s.attributes['gen_ai.tool.name']])).toEqual([
      ['execute_tool crm.erase', 'crm.erase'],
    ]);
    expect(agentSpans.map((s) => s.attributes['rampart.run.id']).sort()).toEqual(
      [byMember.id, byAdmin.id].sort(),
    );
  });
});
