/**
 * The circuit breaker of HTTP actions is per tenant and tool: after GATEWAY_BREAKER_THRESHOLD
 * consecutive failures a tool of one tenant is no longer contacted (the model is told the
 * circuit is open), while the same tool name in another tenant, and another tool of the same
 * tenant, are still called.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { COPILOT_MASTER_KEY, copilotTenant, copilotWorker } from './helpers/copilot.js';
import { startAgentUpstream, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';
import type { JobQueue } from '../src/platform/queue/queue.js';

interface Ev {
  type: string;
  data: Record<string, unknown>;
}

describe.each(testDrivers())('copilot circuit breaker per tenant and tool (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let upstream: AgentUpstream;
  let action: ActionServer;
  let worker: JobQueue;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, {
      RAMPART_MASTER_KEY: COPILOT_MASTER_KEY,
      GATEWAY_BREAKER_THRESHOLD: '2',
      GATEWAY_BREAKER_COOLDOWN_MS: '3600000',
    });
    upstream = await startAgentUpstream();
    action = await startActionServer();
    // Tenant A's lookup is down; everything else answers.
    action.respond = (d) =>
      d.path.startsWith('/a/lookup') ? { status: 503 } : { status: 200, body: { ok: true } };
    worker = copilotWorker(app, t.db);
    // Each run calls `tool` three times (one call per step), then answers.
    upstream.script = (req) => {
      const results = req.messages.filter((m) => m.role === 'tool').length;
      const tool = req.tools[0]?.function.name ?? 'none';
      return results < 3 ? { toolCalls: [{ name: tool, arguments: {} }] } : { content: 'Done.' };
    };
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
    await action?.close();
    await t?.close();
  });

  async function tenant(prefix: string) {
    const c = await copilotTenant(app, upstream);
    const agents: Record<string, string> = {};
    for (const name of ['lookup', 'status']) {
      await c.ok('POST', '/v1/tools', c.owner, {
        name,
        description: `The ${name} action.`,
        parameters: { type: 'object' },
        request: { method: 'GET', url: `${action.baseUrl}/${prefix}/${name}` },
        sideEffect: false,
        retries: 0,
      });
      agents[name] = (
        await c.ok<{ id: string }>('POST', '/v1/agents', c.owner, {
          name: `uses-${name}`,
          instructions: '',
          model: 'agent',
          tools: [{ name, policy: 'always' }],
        })
      ).id;
    }
    const run = async (tool: string): Promise<Ev[]> => {
      const r = await c.ok<{ id: string }>('POST', `/v1/agents/${agents[tool]}/runs`, c.member, {
        input: 'Go.',
      });
      await worker.drain();
      return (await c.ok<{ data: Ev[] }>('GET', `/v1/runs/${r.id}/events`, c.member)).data;
    };
    return { run };
  }

  const outcomes = (events: Ev[]) =>
    events
      .filter((e) => e.type === 'tool.call.succeeded' || e.type === 'tool.call.failed')
      .map((e) => (e.type === 'tool.call.failed' ? String(e.data.error) : 'ok'));

  it('opens for one tenant’s tool only', async () => {
    const a = await tenant('a');
    const b = await tenant('b');
    const failing = await a.run('lookup');
    // Two deliveries fail; the third call is not made: the circuit is open.
    expect(outcomes(failing)).toEqual([
      'the action answered HTTP 503',
      'the action answered HTTP 503',
      'the action is failing repeatedly (circuit open)',
    ]);
    expect(action.to('GET /a/lookup')).toHaveLength(2);
    // Still open on the next run of that tenant: nothing reaches the action.
    expect(outcomes(await a.run('lookup'))).toEqual(
      Array(3).fill('the action is failing repeatedly (circuit open)'),
    );
    expect(action.to('GET /a/lookup')).toHaveLength(2);
    // The same tool name in another tenant, and another tool of tenant A, are called.
    expect(outcomes(await b.run('lookup'))).toEqual(['ok', 'ok', 'ok']);
    expect(outcomes(await a.run('status'))).toEqual(['ok', 'ok', 'ok']);
    expect(action.to('GET /b/lookup')).toHaveLength(3);
    expect(action.to('GET /a/status')).toHaveLength(3);
  });
});
