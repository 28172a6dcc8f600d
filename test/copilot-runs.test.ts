import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { COPILOT_MASTER_KEY, copilotTenant, copilotWorker, parseSse } from './helpers/copilot.js';
import { startAgentUpstream, toolResults, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { auditOf } from './helpers/identity-api.js';

interface Run {
  id: string;
  status: string;
  output: unknown;
  failureReason: string | null;
  steps: number;
  usage: { promptTokens: number; completionTokens: number; costUsd: number };
  pendingApprovals: { callId: string; tool: string; arguments: unknown }[];
  startedBy: { type: string; id: string | null; role: string };
}
interface Ev {
  seq: number;
  type: string;
  data: Record<string, unknown>;
}

const ORDER_PARAMS = {
  type: 'object',
  properties: { item: { type: 'string' }, qty: { type: 'integer', minimum: 1 } },
  required: ['item', 'qty'],
  additionalProperties: false,
};

describe.each(testDrivers())('copilot runs (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let upstream: AgentUpstream;
  let action: ActionServer;
  let worker: JobQueue;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(
      t.db,
      { COPILOT_MAX_CONCURRENT_RUNS_PER_TENANT: '3', RAMPART_MASTER_KEY: COPILOT_MASTER_KEY },
      { redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined },
    );
    upstream = await startAgentUpstream();
    action = await startActionServer();
    worker = copilotWorker(app, t.db);
  });
  beforeEach(() => {
    // Scripts count the requests of their own test.
    upstream.requests.length = 0;
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
    await action?.close();
    await t?.close();
  });

  /** A tenant with the order action (credential, compensation) and an agent using it. */
  async function setup(tools: Record<string, unknown>[], agent: Record<string, unknown> = {}) {
    const c = await copilotTenant(app, upstream);
    const order = await c.ok<{ id: string }>('POST', '/v1/tools', c.owner, {
      name: 'orders.create',
      description: 'Places an order.',
      parameters: ORDER_PARAMS,
      request: { method: 'POST', url: `${action.baseUrl}/orders` },
      credential: 'secret-cred-7f3a9',
      compensate: { method: 'DELETE', url: `${action.baseUrl}/orders/{result.id}` },
    });
    const a = await c.ok<{ id: string }>('POST', '/v1/agents', c.owner, {
      name: 'orders',
      instructions: 'You place orders.',
      model: 'agent',
      tools,
      ...agent,
    });
    const start = async (key: string, input: unknown = 'Order two books.', headers = {}) =>
      c.ok<Run>('POST', `/v1/agents/${a.id}/runs`, key, { input }, headers);
    const run = async (key: string, id: string) => c.ok<Run>('GET', `/v1/runs/${id}`, key);
    const events = async (key: string, id: string) =>
      (await c.ok<{ data: Ev[] }>('GET', `/v1/runs/${id}/events`, key)).data;
    return { ...c, agentId: a.id, toolId: order.id, start, run, events };
  }

  const callsThenAnswer =
    (calls: { name: string; arguments: unknown }[][], answer = 'Done.') =>
    (_req: unknown, n: number) => {
      const step = calls[n - 1];
      return step ? { toolCalls: step } : { content: answer };
    };

  it('ask: the run pauses for approval; approved, the action is called once with its key and credential', async () => {
    const s = await setup([{ name: 'orders.create', policy: 'ask' }]);
    upstream.requests.length = 0;
    upstream.script = callsThenAnswer(
      [[{ name: 'orders_create', arguments: { item: 'book', qty: 2 } }]],
      'Ordered.',
    );
    action.respond = () => ({ status: 201, body: { id: 'o-1' } });
    const before = action.to('POST /orders').length;
    const created = await s.start(s.member);
    expect(created.status).toBe('queued');
    await worker.drain();
    const paused = await s.run(s.member, created.id);
    expect(paused.status).toBe('awaiting_approval');
    expect(paused.pendingApprovals).toEqual([
      { callId: 'c1_0', tool: 'orders.create', arguments: { item: 'book', qty: 2 } },
    ]);
    // The approver sees who asked: the member's key.
    const me = await s.ok<{ principal: { keyId: string } }>('GET', '/v1/me', s.member);
    expect(paused.startedBy).toEqual({ type: 'api_key', id: me.principal.keyId, role: 'member' });
    expect(action.to('POST /orders').length).toBe(before);
    // The model was offered the tool under a provider-safe name.
    expect(upstream.requests[0]?.tools.map((x) => x.function.name)).toEqual(['orders_create']);

    // A member cannot approve (agents:approve is admin and up).
    const refused = await s.call('POST', `/v1/runs/${created.id}/approvals/c1_0`, s.member, {
      decision: 'approve',
    });
    expect(refused.status).toBe(403);
    const approval = await s.call('POST', `/v1/runs/${created.id}/approvals/c1_0`, s.admin, {
      decision: 'approve',
      reason: 'fine',
    });
    expect(approval.status, approval.text).toBe(200);
    const approved = approval.body as Run;
    // The decision is audited with who made it.
    expect(await auditOf(t, s.tenant.id, approval.requestId)).toMatchObject([
      {
        action: 'approval.granted',
        actor_type: 'api_key',
        target_type: 'run',
        target_id: created.id,
        details: { callId: 'c1_0', tool: 'orders.create', reason: 'fine' },
      },
    ]);
    expect(approved.status).toBe('queued');
    const again = await s.call('POST', `/v1/runs/${created.id}/approvals/c1_0`, s.admin, {
      decision: 'deny',
    });
    expect(again.status).toBe(409);
    await worker.drain();

    const done = await s.run(s.member, created.id);
    expect(done).toMatchObject({ status: 'succeeded', output: 'Ordered.', steps: 2 });
    expect(done.usage).toMatchObject({ promptTokens: 200, completionTokens: 40 });
    expect(done.usage.costUsd).toBeGreaterThan(0);
    const deliveries = action.to('POST /orders').slice(before);
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]?.headers['idempotency-key']).toBe(`${created.id}:c1_0`);
    expect(deliveries[0]?.headers.authorization).toBe('Bearer secret-cred-7f3a9');
    expect(deliveries[0]?.body).toEqual({ item: 'book', qty: 2 });
    // The model got the action's result back as the tool message.
    expect(toolResults(upstream.requests[1]!)).toEqual([{ id: 'o-1' }]);

    const events = await s.events(s.member, created.id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => e.type)).toEqual([
      'run.started',
      'model.message',
      'approval.requested',
      'approval.granted',
      'tool.call.requested',
      'tool.call.succeeded',
      'model.message',
      'run.succeeded',
    ]);
    expect(events[3]?.data).toMatchObject({ callId: 'c1_0', reason: 'fine' });
    // The credential never reaches an event, a response or a log line.
    expect(JSON.stringify(events)).not.toContain('secret-cred-7f3a9');
    expect(JSON.stringify(await s.ok('GET', `/v1/tools/${s.toolId}`, s.owner))).not.toContain(
      'secret-cred-7f3a9',
    );
    expect(app.logs.text).not.toContain('secret-cred-7f3a9');
  });

  it('deny: the action is never called and the model is told; distinctApprover keeps the caller from approving', async () => {
    const s = await setup([
      { name: 'orders.create', policy: 'ask', approverRole: 'admin', distinctApprover: true },
    ]);
    upstream.script = callsThenAnswer(
      [[{ name: 'orders_create', arguments: { item: 'pen', qty: 1 } }]],
      'Not ordered.',
    );
    const before = action.to('POST /orders').length;
    // An admin starts the run: they may approve others' calls, not their own.
    const r1 = await s.start(s.admin);
    await worker.drain();
    const own = await s.call('POST', `/v1/runs/${r1.id}/approvals/c1_0`, s.admin, {
      decision: 'approve',
    });
    expect(own.status).toBe(403);
    expect((own.body as { code: string }).code).toBe('distinct_approver_required');
    await s.ok('POST', `/v1/runs/${r1.id}/approvals/c1_0`, s.owner, {
      decision: 'deny',
      reason: 'not needed',
    });
    await worker.drain();
    const done = await s.run(s.admin, r1.id);
    expect(done).toMatchObject({ status: 'succeeded', output: 'Not ordered.' });
    expect(action.to('POST /orders').length).toBe(before);
    const events = await s.events(s.admin, r1.id);
    expect(events.find((e) => e.type === 'tool.call.denied')?.data).toMatchObject({
      callId: 'c1_0',
      reason: 'approver',
      why: 'not needed',
    });
    expect(events.some((e) => e.type === 'tool.call.requested')).toBe(false);
  });

  it("a run stops when its caller's key is revoked: an approval after that calls nothing", async () => {
    const s = await setup([{ name: 'orders.create', policy: 'ask' }]);
    const key = await s.ok<{ id: string; secret: string }>('POST', '/v1/api-keys', s.owner, {
      name: 'short-lived',
      role: 'member',
    });
    upstream.script = callsThenAnswer([
      [{ name: 'orders_create', arguments: { item: 'desk', qty: 1 } }],
    ]);
    const before = action.to('POST /orders').length;
    const r = await s.start(key.secret);
    await worker.drain();
    expect((await s.run(s.admin, r.id)).status).toBe('awaiting_approval');
    const revoked = await s.call('DELETE', `/v1/api-keys/${key.id}`, s.owner);
    expect(revoked.status, revoked.text).toBeLessThan(300);
    await s.ok('POST', `/v1/runs/${r.id}/approvals/c1_0`, s.admin, { decision: 'approve' });
    await worker.drain();
    const done = await s.run(s.admin, r.id);
    expect(done.status).toBe('failed');
    expect(done.failureReason).toMatch(/^caller_revoked/);
    expect(action.to('POST /orders').length).toBe(before);
  });

  it('a denied tool is never called however often the model asks; bad arguments never reach the action', async () => {
    const s = await setup([{ name: 'orders.create', policy: 'deny' }]);
    const ask = { name: 'orders_create', arguments: { item: 'x', qty: 1 } };
    upstream.requests.length = 0;
    upstream.script = callsThenAnswer([[ask], [ask, ask], [ask]], 'Gave up.');
    const before = action.deliveries.length;
    const r = await s.start(s.member);
    await worker.drain();
    expect(await s.run(s.member, r.id)).toMatchObject({ status: 'succeeded', output: 'Gave up.' });
    expect(action.deliveries.length).toBe(before);
    const denied = (await s.events(s.member, r.id)).filter((e) => e.type === 'tool.call.denied');
    expect(denied).toHaveLength(4);
    expect(denied.every((e) => e.data.reason === 'policy')).toBe(true);
    // A denied tool is not even offered.
    expect(upstream.requests[0]?.tools).toEqual([]);

    const s2 = await setup([{ name: 'orders.create', policy: 'always' }]);
    upstream.requests.length = 0;
    upstream.script = callsThenAnswer(
      [
        [{ name: 'orders_create', arguments: { item: 5 } }],
        [{ name: 'orders_create', arguments: '{not json' }],
        [{ name: 'orders_create', arguments: { item: 'cup', qty: 3 } }],
      ],
      'Ordered a cup.',
    );
    action.respond = () => ({ status: 201, body: { id: 'o-2' } });
    const deliveries = action.to('POST /orders').length;
    const r2 = await s2.start(s2.member);
    await worker.drain();
    expect(await s2.run(s2.member, r2.id)).toMatchObject({ status: 'succeeded' });
    const sent = action.to('POST /orders').slice(deliveries);
    expect(sent.map((d) => d.body)).toEqual([{ item: 'cup', qty: 3 }]);
    const failed = (await s2.events(s2.member, r2.id)).filter((e) => e.type === 'tool.call.failed');
    expect(failed).toHaveLength(2);
    expect(JSON.stringify(failed[0]?.data.errors)).toContain('qty');
    // The validation error went back to the model as the tool result.
    expect(JSON.stringify(toolResults(upstream.requests[1]!))).toContain('qty');
  });

  it('saga: the third of three side effects fails, the first two are compensated in reverse order', async () => {
    const c = await copilotTenant(app, upstream);
    for (const [name, path] of [
      ['trip.flight', 'flights'],
      ['trip.hotel', 'hotels'],
      ['trip.car', 'cars'],
    ] as const)
      await c.ok('POST', '/v1/tools', c.owner, {
        name,
        description: `Books a ${path.slice(0, -1)}.`,
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' } },
          required: ['city'],
        },
        request: { method: 'POST', url: `${action.baseUrl}/${path}` },
        compensate: {
          method: 'DELETE',
          url: `${action.baseUrl}/${path}/{result.id}`,
          body: { reason: 'saga {city}' },
        },
      });
    const agent = await c.ok<{ id: string }>('POST', '/v1/agents', c.owner, {
      name: 'trips',
      instructions: 'Book trips.',
      model: 'agent',
      tools: ['trip.flight', 'trip.hotel', 'trip.car'].map((name) => ({ name, policy: 'always' })),
    });
    upstream.script = callsThenAnswer([
      [{ name: 'trip_flight', arguments: { city: 'Oslo' } }],
      [{ name: 'trip_hotel', arguments: { city: 'Oslo' } }],
      [{ name: 'trip_car', arguments: { city: 'Oslo' } }],
    ]);
    action.respond = (d) => {
      if (d.method === 'POST' && d.path === '/flights') return { status: 201, body: { id: 'f-1' } };
      if (d.method === 'POST' && d.path === '/hotels') return { status: 201, body: { id: 'h-1' } };
      if (d.method === 'POST' && d.path === '/cars') return { status: 503 };
      return { status: 200, body: { undone: d.path } };
    };
    const before = action.deliveries.length;
    const run = await c.ok<Run>('POST', `/v1/agents/${agent.id}/runs`, c.member, {
      input: 'Trip to Oslo',
    });
    await worker.drain();
    const done = await c.ok<Run>('GET', `/v1/runs/${run.id}`, c.member);
    expect(done.status).toBe('failed');
    expect(done.failureReason).toContain('tool_failed: trip.car');
    const seen = action.deliveries.slice(before).map((d) => `${d.method} ${d.path}`);
    expect(seen).toEqual([
      'POST /flights',
      'POST /hotels',
      'POST /cars',
      'DELETE /hotels/h-1',
      'DELETE /flights/f-1',
    ]);
    const undo = action.deliveries.slice(before).filter((d) => d.method === 'DELETE');
    expect(undo.map((d) => d.headers['idempotency-key'])).toEqual([
      `${run.id}:c2_0:compensate`,
      `${run.id}:c1_0:compensate`,
    ]);
    expect(undo[0]?.body).toEqual({ reason: 'saga Oslo' });
    const types = (await c.ok<{ data: Ev[] }>('GET', `/v1/runs/${run.id}/events`, c.member)).data
      .map((e) => `${e.type}${e.data.tool ? ` ${String(e.data.tool)}` : ''}`)
      .slice(-4);
    expect(types).toEqual([
      'tool.call.failed trip.car',
      'tool.call.compensated trip.hotel',
      'tool.call.compensated trip.flight',
      'run.failed',
    ]);
  });

  it('cancel while awaiting approval compensates what was done; a compensation that fails leaves the run failed', async () => {
    const s = await setup([
      { name: 'orders.create', policy: 'always' },
      { name: 'knowledge.search', policy: 'ask' },
    ]);
    upstream.script = callsThenAnswer([
      [{ name: 'orders_create', arguments: { item: 'lamp', qty: 1 } }],
      [{ name: 'knowledge_search', arguments: { query: 'lamps' } }],
    ]);
    action.respond = (d) =>
      d.method === 'POST' ? { status: 201, body: { id: 'o-9' } } : { status: 200 };
    const r = await s.start(s.member);
    await worker.drain();
    expect((await s.run(s.member, r.id)).status).toBe('awaiting_approval');
    const cancelled = await s.ok<Run>('POST', `/v1/runs/${r.id}/cancel`, s.member);
    expect(cancelled.status).toBe('queued');
    await worker.drain();
    expect(await s.run(s.member, r.id)).toMatchObject({ status: 'cancelled' });
    expect(action.to('DELETE /orders/o-9')).toHaveLength(1);
    expect((await s.call('POST', `/v1/runs/${r.id}/cancel`, s.member)).status).toBe(409);
    expect(
      (await s.call('POST', `/v1/runs/${r.id}/approvals/c2_0`, s.admin, { decision: 'approve' }))
        .status,
    ).toBe(409);

    // Same again, but the compensation keeps failing.
    upstream.requests.length = 0;
    action.respond = (d) =>
      d.method === 'POST' ? { status: 201, body: { id: 'o-10' } } : { status: 500 };
    const r2 = await s.start(s.member);
    await worker.drain();
    await s.ok('POST', `/v1/runs/${r2.id}/cancel`, s.member);
    await worker.drain();
    const failed = await s.run(s.member, r2.id);
    expect(failed.status).toBe('failed');
    expect(failed.failureReason).toContain('compensation_failed');
    expect(
      (await s.events(s.member, r2.id)).some((e) => e.type === 'tool.compensation.failed'),
    ).toBe(true);
    // Retried (at least twice more), every delivery with the same key.
    const undo = action.to('DELETE /orders/o-10');
    expect(undo.length).toBeGreaterThanOrEqual(3);
    expect(new Set(undo.map((d) => d.headers['idempotency-key']))).toEqual(
      new Set([`${r2.id}:c1_0:compensate`]),
    );
    const metrics = await app.metrics.registry.metrics();
    expect(metrics).toMatch(/rampart_copilot_compensations_total\{outcome="failed"\} [1-9]/);
    expect(metrics).toMatch(
      /rampart_copilot_tool_calls_total\{tool="orders.create",outcome="succeeded"\} [1-9]/,
    );
  });

  it('outputSchema: one repair round, then the run fails with a clear reason', async () => {
    const schema = {
      type: 'object',
      properties: { total: { type: 'number' } },
      required: ['total'],
    };
    const s = await setup([], { outputSchema: schema });
    upstream.requests.length = 0;
    let answers = ['not json', '```json\n{"total": 3}\n```'];
    upstream.script = (_r, n) => ({ content: answers[(n - 1) % 2] ?? '' });
    const r = await s.start(s.member);
    await worker.drain();
    expect(await s.run(s.member, r.id)).toMatchObject({
      status: 'succeeded',
      output: { total: 3 },
    });
    const repair = upstream.requests[1]?.messages.at(-1);
    expect(repair?.role).toBe('user');
    expect(repair?.content).toContain('JSON Schema');

    answers = ['{"total": "x"}', '{"sum": 1}'];
    const r2 = await s.start(s.member);
    await worker.drain();
    const failed = await s.run(s.member, r2.id);
    expect(failed.status).toBe('failed');
    expect(failed.failureReason).toMatch(/^invalid_output: .*total/);
  });

  it('budget: a run that would exceed its budget stops as budget_exhausted before its tool calls', async () => {
    // gpt-4o-mini list price: 100 prompt + 20 completion tokens cost $0.000027 per call.
    const s = await setup([{ name: 'orders.create', policy: 'always' }], { budgetUsd: 0.00001 });
    upstream.script = () => ({
      toolCalls: [{ name: 'orders_create', arguments: { item: 'a', qty: 1 } }],
    });
    const before = action.to('POST /orders').length;
    const r = await s.start(s.member);
    await worker.drain();
    const done = await s.run(s.member, r.id);
    expect(done).toMatchObject({ status: 'failed', failureReason: 'budget_exhausted', steps: 1 });
    expect(done.usage.costUsd).toBeCloseTo(0.000027, 9);
    expect(action.to('POST /orders').length).toBe(before);

    // maxSteps bounds a model that never stops calling tools.
    const s2 = await setup([{ name: 'knowledge.search', policy: 'always' }], { maxSteps: 2 });
    upstream.script = () => ({
      toolCalls: [{ name: 'knowledge_search', arguments: { query: 'x' } }],
    });
    const r2 = await s2.start(s2.member);
    await worker.drain();
    expect(await s2.run(s2.member, r2.id)).toMatchObject({
      status: 'failed',
      failureReason: 'max_steps_exceeded',
      steps: 2,
    });
  });

  it('bulkhead: over the tenant’s concurrent runs the start is refused with 429; Idempotency-Key semantics', async () => {
    const s = await setup([]);
    upstream.script = () => ({ content: 'ok' });
    const first = await s.start(s.member, 'one', { 'idempotency-key': 'k-1' });
    const same = await s.start(s.member, 'one', { 'idempotency-key': 'k-1' });
    expect(same.id).toBe(first.id);
    const other = await s.call(
      'POST',
      `/v1/agents/${s.agentId}/runs`,
      s.member,
      { input: 'two' },
      { 'idempotency-key': 'k-1' },
    );
    expect(other.status).toBe(422);
    // Keys are the caller's own: another member's k-1 is another run.
    const theirs = await s.start(s.member2, 'one', { 'idempotency-key': 'k-1' });
    expect(theirs.id).not.toBe(first.id);
    await s.start(s.member, 'three');
    const over = await s.call('POST', `/v1/agents/${s.agentId}/runs`, s.member, { input: 'four' });
    expect(over.status).toBe(429);
    expect(over.res.headers['retry-after']).toBeDefined();
    // The replay of an existing key is not a new run: the bulkhead does not refuse it.
    expect((await s.start(s.member, 'one', { 'idempotency-key': 'k-1' })).id).toBe(first.id);
    await worker.drain();
    expect((await s.run(s.member, first.id)).status).toBe('succeeded');
    await s.start(s.member, 'five');
    await worker.drain();

    if (driver === 'postgres') {
      // While a request holding the same key is still in progress: 409. (The embedded database
      // has one connection, so two requests never overlap there.)
      const keyId = (
        await s.ok<{ data: { id: string; name: string }[] }>('GET', '/v1/api-keys', s.owner)
      ).data.find((k) => k.name.startsWith('k2-'))?.id;
      const lockKey = `copilot-idem:${s.tenant.id}:key:${keyId}:k-busy`;
      await t.asOwner(async (q) => {
        await q.query(`SELECT pg_advisory_lock(hashtextextended($1, 0))`, [lockKey]);
        try {
          const busy = await s.call(
            'POST',
            `/v1/agents/${s.agentId}/runs`,
            s.member,
            { input: 'x' },
            { 'idempotency-key': 'k-busy' },
          );
          expect(busy.status).toBe(409);
        } finally {
          await q.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0))`, [lockKey]);
        }
      });
    }
  });

  it('events stream as SSE: live with stream: true, and resumed after Last-Event-ID', async () => {
    const s = await setup([{ name: 'knowledge.search', policy: 'always' }]);
    upstream.script = callsThenAnswer(
      [[{ name: 'knowledge_search', arguments: { query: 'q' } }]],
      'Found nothing.',
    );
    await worker.start();
    try {
      const res = await s.call('POST', `/v1/agents/${s.agentId}/runs`, s.member, {
        input: 'go',
        stream: true,
      });
      expect(res.res.headers['content-type']).toContain('text/event-stream');
      const frames = parseSse(res.text);
      expect(frames.map((f) => f.event)).toEqual([
        'run.started',
        'model.message',
        'tool.call.requested',
        'tool.call.succeeded',
        'model.message',
        'run.succeeded',
      ]);
      expect(frames.map((f) => f.id)).toEqual([1, 2, 3, 4, 5, 6]);
      const runId = (await s.ok<{ data: Run[] }>('GET', '/v1/runs', s.member)).data[0]?.id;
      const resumed = await s.call('GET', `/v1/runs/${runId}/events`, s.member, undefined, {
        accept: 'text/event-stream',
        'last-event-id': '4',
      });
      expect(parseSse(resumed.text).map((f) => [f.id, f.event])).toEqual([
        [5, 'model.message'],
        [6, 'run.succeeded'],
      ]);
    } finally {
      await worker.stop();
    }
  });

  it("a run's model calls are metered in the tenant's usage, under the caller's key", async () => {
    const s = await setup([]);
    upstream.script = () => ({ content: 'hi' });
    const r = await s.start(s.member);
    await worker.drain();
    expect((await s.run(s.member, r.id)).status).toBe('succeeded');
    await app.gateway.usage.flush();
    const usage = await s.ok<{
      data: { key_id: string | null; requests: number; prompt_tokens: number }[];
    }>('GET', '/v1/usage?groupBy=key', s.owner);
    const keys = await s.ok<{ data: { id: string; name: string }[] }>(
      'GET',
      '/v1/api-keys',
      s.owner,
    );
    const memberId = keys.data.find(
      (k) => k.name.endsWith('-member') && k.name.startsWith('k2'),
    )?.id;
    expect(usage.data.find((b) => b.key_id === memberId)).toMatchObject({
      requests: 1,
      prompt_tokens: 100,
    });
  });
});
