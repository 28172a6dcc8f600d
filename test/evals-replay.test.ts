/**
 * Issue #29, episode replay (decision 024): a recorded copilot run replays exactly (same
 * decisions, same output) or with new instructions (scored), or many at once (stress) — and no
 * tool is ever called: the fake action server records every delivery, and a replay adds none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalReplay, injectClient } from '../src/evals/index.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';
import { startAgentUpstream, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { COPILOT_MASTER_KEY, copilotTenant, copilotWorker } from './helpers/copilot.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

const ORDER_PARAMS = {
  type: 'object',
  properties: { item: { type: 'string' } },
  required: ['item'],
  additionalProperties: false,
};

function capture() {
  let buf = '';
  return {
    io: { out: (t: string) => void (buf += t), err: (t: string) => void (buf += t) },
    text: () => buf,
  };
}

interface EventView {
  type: string;
  data: Record<string, unknown>;
}

describe.each(testDrivers())('eval replay (%s)', (driver) => {
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
    action.respond = (d) =>
      d.path.startsWith('/stock')
        ? { status: 200, body: { inStock: true } }
        : { status: 201, body: { orderId: `o-${Math.random()}` } };
    worker = copilotWorker(app, t.db);
    // Look the item up, order it (asks a person first), then answer. With the instructions
    // "Be brief." the same calls are made and the answer is shorter; with "Order two." the
    // model orders something the recording never did.
    upstream.script = (req) => {
      const system = req.messages.find((m) => m.role === 'system')?.content ?? '';
      const results = req.messages.filter((m) => m.role === 'tool').length;
      if (results === 0)
        return { toolCalls: [{ name: 'stock_check', arguments: { item: 'Dune' } }] };
      if (results === 1)
        return {
          toolCalls: [
            {
              name: 'orders_create',
              arguments: { item: system.includes('two') ? 'Dune x2' : 'Dune' },
            },
          ],
        };
      return {
        content: system.includes('brief') ? 'Ordered.' : 'Dune is in stock and ordered for you.',
      };
    };
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
    await action?.close();
    await t?.close();
  });

  /** A tenant, an agent with a read tool and an approved side effect, and one recorded run. */
  async function recorded() {
    const c = await copilotTenant(app, upstream);
    await c.ok('POST', '/v1/tools', c.owner, {
      name: 'stock.check',
      description: 'Is the item in stock?',
      parameters: ORDER_PARAMS,
      request: { method: 'GET', url: `${action.baseUrl}/stock/{item}` },
      sideEffect: false,
    });
    const orders = await c.ok<{ id: string }>('POST', '/v1/tools', c.owner, {
      name: 'orders.create',
      description: 'Places an order.',
      parameters: ORDER_PARAMS,
      request: { method: 'POST', url: `${action.baseUrl}/orders` },
      compensate: { method: 'DELETE', url: `${action.baseUrl}/orders/{result.orderId}` },
    });
    const agent = await c.ok<{ id: string }>('POST', '/v1/agents', c.owner, {
      name: 'shop',
      instructions: 'You order books.',
      model: 'agent',
      tools: [
        { name: 'stock.check', policy: 'always' },
        { name: 'orders.create', policy: 'ask' },
      ],
    });
    const run = await c.ok<{ id: string }>('POST', `/v1/agents/${agent.id}/runs`, c.member, {
      input: 'Order Dune if it is in stock.',
    });
    await worker.drain();
    await c.ok('POST', `/v1/runs/${run.id}/approvals/c2_0`, c.admin, { decision: 'approve' });
    await worker.drain();
    const done = await c.ok<{ status: string }>('GET', `/v1/runs/${run.id}`, c.member);
    expect(done.status).toBe('succeeded');
    const client = injectClient((o) => app.app.inject(o), bearer(c.member));
    const events = async (id: string) =>
      (await c.ok<{ data: EventView[] }>('GET', `/v1/runs/${id}/events`, c.member)).data;
    return { ...c, run, orders, client, events };
  }

  it('exact: reproduces the recorded run — same decisions and output — and never calls the action server', async () => {
    const r = await recorded();
    const deliveries = action.deliveries.length;
    const modelCalls = upstream.requests.length;
    const out = capture();
    const code = await evalReplay(r.client, { run: r.run.id, mode: 'exact' }, out.io);
    expect(out.text()).toContain('REPRODUCED');
    expect(code).toBe(0);
    // No tool, no compensation, no model: everything came from the recording.
    expect(action.deliveries.length).toBe(deliveries);
    expect(upstream.requests.length).toBe(modelCalls);
    // The replay is itself a run (marked as one), with the recorded events, approval included.
    const replayRunId = /replay run ([0-9a-f-]{36})/.exec(out.text())?.[1] ?? '';
    const strip = (es: EventView[]) =>
      es.map((e) => [e.type, e.data.content ?? e.data.result ?? null]);
    expect(strip(await r.events(replayRunId))).toEqual(strip(await r.events(r.run.id)));
    expect((await r.events(replayRunId)).map((e) => e.type)).toContain('approval.granted');
    // A job for the replay run (an approval or cancel would enqueue one) is refused by the
    // production loop: still nothing reaches the action server.
    await worker.drain();
    expect(action.deliveries.length).toBe(deliveries);
  });

  it('exact: a run the runtime would now decide differently is reported as diverged', async () => {
    const r = await recorded();
    // Since the recording, the order tool's schema changed: the recorded arguments fail it.
    await r.ok('PATCH', `/v1/tools/${r.orders.id}`, r.owner, {
      parameters: {
        ...ORDER_PARAMS,
        required: ['item', 'quantity'],
        properties: { ...ORDER_PARAMS.properties, quantity: { type: 'integer' } },
      },
    });
    const deliveries = action.deliveries.length;
    const out = capture();
    expect(await evalReplay(r.client, { run: r.run.id, mode: 'exact' }, out.io)).toBe(1);
    expect(out.text()).toMatch(/DIVERGED: event \d+: recorded approval\.requested/);
    expect(action.deliveries.length).toBe(deliveries);
  });

  it('parametric: new instructions with the recorded tool outputs, scored; a call not recorded fails clearly', async () => {
    const r = await recorded();
    const deliveries = action.deliveries.length;
    const before = upstream.requests.length;
    const out = capture();
    const code = await evalReplay(
      r.client,
      {
        run: r.run.id,
        mode: 'parametric',
        instructions: 'Be brief.',
        expect: JSON.stringify({
          contains: 'Ordered',
          toolsCalled: ['stock.check', 'orders.create'],
        }),
      },
      out.io,
    );
    expect(out.text()).toContain('check contains: pass');
    expect(out.text()).toContain('PASSED');
    expect(code).toBe(0);
    // The model was asked anew (through the gateway, with the new instructions); tools were not.
    expect(upstream.requests.length - before).toBe(3);
    expect(upstream.requests.at(-1)?.messages[0]).toMatchObject({
      role: 'system',
      content: 'Be brief.',
    });
    expect(action.deliveries.length).toBe(deliveries);

    const diverging = capture();
    const failed = await evalReplay(
      r.client,
      { run: r.run.id, mode: 'parametric', instructions: 'Order two.' },
      diverging.io,
    );
    expect(failed).toBe(1);
    expect(diverging.text()).toMatch(
      /not in the recording: the call c2_0 of orders\.create \{"item":"Dune x2"\} is not in the recording/,
    );
    expect(diverging.text()).toContain('FAILED');
    expect(action.deliveries.length).toBe(deliveries);
  });

  it('stress: replays many episodes at once and prints the throughput; still no tool call', async () => {
    const r = await recorded();
    const deliveries = action.deliveries.length;
    const out = capture();
    const code = await evalReplay(
      r.client,
      { run: r.run.id, mode: 'stress', episodes: 6, concurrency: 3 },
      out.io,
    );
    expect(out.text()).toMatch(/stress: 6 exact replays .* concurrency 3/);
    expect(out.text()).toMatch(
      /[\d.]+ episodes\/s, [\d.]+ model steps\/s, latency p50 \d+ ms p99 \d+ ms/,
    );
    expect(out.text()).toContain('6 reproduced, 0 diverged, 0 errors');
    expect(code).toBe(0);
    expect(action.deliveries.length).toBe(deliveries);
  });

  it('refuses a run the caller may not see, a run still going, and bad flags', async () => {
    const r = await recorded();
    const other = injectClient((o) => app.app.inject(o), bearer(r.member2));
    const out = capture();
    await expect(evalReplay(other, { run: r.run.id, mode: 'exact' }, out.io)).rejects.toThrow(
      /404/,
    );
    const agent = await r.ok<{ data: { id: string }[] }>('GET', '/v1/agents', r.owner);
    const pending = await r.ok<{ id: string }>(
      'POST',
      `/v1/agents/${agent.data[0]?.id ?? ''}/runs`,
      r.member,
      {
        input: 'Order Dune.',
      },
    );
    await expect(evalReplay(r.client, { run: pending.id, mode: 'exact' }, out.io)).rejects.toThrow(
      /422|400/,
    );
    expect(await evalReplay(r.client, { run: r.run.id, mode: 'sideways' }, out.io)).toBe(2);
    expect(await evalReplay(r.client, { run: r.run.id, mode: 'parametric' }, out.io)).toBe(2);
  });
});
