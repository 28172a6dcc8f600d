import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { COPILOT_MASTER_KEY, copilotTenant, copilotWorker } from './helpers/copilot.js';
import { apiClient } from './helpers/identity-api.js';
import { MERGER_MEMO, seedKnowledgeCorpus } from './helpers/knowledge-corpus.js';
import { startAgentUpstream, toolResults, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';
import type { JobQueue } from '../src/platform/queue/queue.js';

describe.each(testDrivers())('copilot isolation (%s)', (driver) => {
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

  it("tenant B and another member of A cannot see, stream, approve or cancel A's run; A's approver can", async () => {
    const a = await copilotTenant(app, upstream);
    const b = await copilotTenant(app, upstream);
    await a.ok('POST', '/v1/tools', a.owner, {
      name: 'orders.create',
      description: 'Places an order.',
      parameters: { type: 'object', properties: { item: { type: 'string' } } },
      request: { method: 'POST', url: `${action.baseUrl}/orders` },
    });
    const agent = await a.ok<{ id: string }>('POST', '/v1/agents', a.owner, {
      name: 'orders',
      instructions: 'Order.',
      model: 'agent',
      tools: [{ name: 'orders.create', policy: 'ask' }],
    });
    upstream.requests.length = 0;
    upstream.script = (_r, n) =>
      n === 1
        ? { toolCalls: [{ name: 'orders_create', arguments: { item: 'x' } }] }
        : { content: 'ok' };
    const run = await a.ok<{ id: string }>('POST', `/v1/agents/${agent.id}/runs`, a.member, {
      input: 'Order x',
    });
    await worker.drain();
    const before = action.deliveries.length;

    const call = apiClient(app);
    const attempts = (key: string) => [
      call('GET', `/v1/runs/${run.id}`, key),
      call('GET', `/v1/runs/${run.id}/events`, key),
      call('GET', `/v1/runs/${run.id}/events`, key, undefined, { accept: 'text/event-stream' }),
      call('POST', `/v1/runs/${run.id}/cancel`, key),
    ];
    // Tenant B's owner holds every permission, in its own tenant only.
    for (const r of await Promise.all([
      ...attempts(b.owner),
      call('POST', `/v1/runs/${run.id}/approvals/c1_0`, b.owner, { decision: 'approve' }),
      call('GET', `/v1/agents/${agent.id}`, b.owner),
      call('POST', `/v1/agents/${agent.id}/runs`, b.owner, { input: 'x' }),
    ]))
      expect(r.status, `${r.res.raw.req.method} ${r.res.raw.req.url}: ${r.text}`).toBe(404);
    // Another member of A: not their run.
    for (const r of await Promise.all(attempts(a.member2)))
      expect(r.status, `${r.res.raw.req.url}: ${r.text}`).toBe(404);
    const approve = await call('POST', `/v1/runs/${run.id}/approvals/c1_0`, a.member2, {
      decision: 'approve',
    });
    expect(approve.status).toBe(403);
    for (const key of [b.owner, a.member2]) {
      const list = await a.ok<{ data: { id: string }[] }>('GET', '/v1/runs', key);
      expect(list.data.map((r) => r.id)).not.toContain(run.id);
    }
    // Nothing of the above moved the run.
    expect((await a.ok<{ status: string }>('GET', `/v1/runs/${run.id}`, a.member)).status).toBe(
      'awaiting_approval',
    );
    expect(action.deliveries.length).toBe(before);
    // A's admin (an approver) sees it and every run of the tenant.
    const seen = await a.ok<{ data: { id: string }[] }>(
      'GET',
      '/v1/runs?status=awaiting_approval',
      a.admin,
    );
    expect(seen.data.map((r) => r.id)).toEqual([run.id]);
    // Even with the route's check bypassed, the database shows another member nothing.
    const raw = await t.db.withTenant(
      { tenantId: a.tenant.id, groups: [], keyId: '00000000-0000-4000-8000-000000000001' },
      (tx) =>
        tx.query(
          `SELECT id FROM runs UNION ALL SELECT run_id FROM run_events UNION ALL SELECT run_id FROM approvals`,
        ),
    );
    expect(raw.rows).toEqual([]);
  });

  it("knowledge.search inside a run sees only what the run's caller may read", async () => {
    const corpus = await seedKnowledgeCorpus(app, t.db, [
      MERGER_MEMO,
      {
        name: 'handbook',
        payload: { title: 'Handbook', text: 'Refunds are paid within 14 days of a return.' },
      },
    ]);
    const call = apiClient(app);
    const owner = corpus.tenant.ownerKey;
    for (const [url, body] of [
      ['/v1/providers', { name: 'main', type: 'openai', baseUrl: upstream.baseUrl, apiKey: 'sk' }],
      [
        '/v1/routes',
        { alias: 'agent', targets: [{ provider: 'main', model: 'gpt-4o-mini', weight: 1 }] },
      ],
      [
        '/v1/agents',
        {
          name: 'researcher',
          instructions: 'Search first.',
          model: 'agent',
          tools: [{ name: 'knowledge.search', policy: 'always' }],
        },
      ],
    ] as const) {
      const r = await call('POST', url, owner, body);
      expect(r.status, r.text).toBe(201);
    }
    const agents = (await call('GET', '/v1/agents', owner)).body as { data: { id: string }[] };
    const agentId = agents.data[0]?.id;
    upstream.script = (req) =>
      req.messages.some((m) => m.role === 'tool')
        ? { content: 'Answered.' }
        : {
            toolCalls: [{ name: 'knowledge_search', arguments: { query: 'Globex merger refund' } }],
          };
    const titlesFor = async (key: string): Promise<string[]> => {
      upstream.requests.length = 0;
      const r = await call('POST', `/v1/agents/${agentId}/runs`, key, {
        input: 'What about Globex?',
      });
      expect(r.status, r.text).toBe(201);
      await worker.drain();
      const run = (await call('GET', `/v1/runs/${(r.body as { id: string }).id}`, key)).body;
      expect(run).toMatchObject({ status: 'succeeded' });
      const results = toolResults(upstream.requests[1]!)[0] as { title: string }[];
      return results.map((h) => h.title);
    };
    const plain = await titlesFor(corpus.plainKey);
    const legal = await titlesFor(corpus.legalKey);
    expect(plain).toContain('Handbook');
    expect(plain).not.toContain('Merger memo');
    expect(legal).toContain('Merger memo');
  });
});
