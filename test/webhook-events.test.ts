import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../src/jobs.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { COPILOT_MASTER_KEY, copilotTenant } from './helpers/copilot.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { startReceiver, verifyStandardWebhook, type Receiver } from './helpers/webhook-receiver.js';
import { startAgentUpstream, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';

interface Message {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

// The events come from where the state changes are written: the knowledge hub's ingestion job
// and the copilot's run loop, each adding the outbox row in its own transaction.
describe.each(testDrivers())('webhook events from ingestion and runs (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let worker: JobQueue;
  let upstream: AgentUpstream;
  let action: ActionServer;
  let receiver: Receiver;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(
      t.db,
      { RAMPART_MASTER_KEY: COPILOT_MASTER_KEY, QUEUE_MAX_ATTEMPTS: '1' },
      { redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined },
    );
    worker = createWorker(t.db, app.config, undefined, app.gateway.calls);
    for (const [kind, handler] of Object.entries({ ...app.copilot.jobs, ...app.webhooks.jobs }))
      worker.register(kind, handler);
    upstream = await startAgentUpstream();
    action = await startActionServer();
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
    await action?.close();
    await receiver?.close();
    await t?.close();
  });

  /** The messages received that concern `id`, in arrival order. */
  const messages = (id: string): Message[] =>
    receiver.requests.filter((r) => r.body.includes(id)).map((r) => JSON.parse(r.body) as Message);

  it('document.ready and document.failed when ingestion settles a document', async () => {
    const tenant = await app.createTenant();
    const call = async (url: string, payload: unknown) =>
      app.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${tenant.ownerKey}` },
        payload: payload as Record<string, unknown>,
      });
    const hook = await call('/v1/webhooks', {
      url: receiver.url,
      events: ['document.ready', 'document.failed'],
    });
    expect(hook.statusCode, hook.body).toBe(201);
    const secret = (hook.json() as { secret: string }).secret;
    const ok = await call('/v1/documents', { title: 'Handbook', text: 'Vacation is 25 days.' });
    const bad = await call('/v1/documents', { title: 'Nothing', text: '' });
    const okId = (ok.json() as { id: string }).id;
    const badId = (bad.json() as { id: string }).id;
    const before = receiver.requests.length;
    await worker.drain();
    const got = receiver.requests.slice(before);
    const bodies = got.map((r) => JSON.parse(r.body) as Message);
    expect(bodies.map((m) => [m.type, m.data.documentId]).sort()).toEqual(
      [
        ['document.failed', badId],
        ['document.ready', okId],
      ].sort(),
    );
    expect(bodies.find((m) => m.type === 'document.ready')?.data.chunkCount).toBe(1);
    expect(bodies.find((m) => m.type === 'document.failed')?.data.reason).toBe(
      'The file is empty (0 bytes).',
    );
    for (const r of got) expect(await verifyStandardWebhook(secret, r)).toBe(true);
  });

  it('run.awaiting_approval when a run pauses for a person, run.finished when it ends', async () => {
    const c = await copilotTenant(app, upstream);
    const hook = await c.ok<{ secret: string }>('POST', '/v1/webhooks', c.owner, {
      url: receiver.url,
      events: ['run.awaiting_approval', 'run.finished'],
    });
    await c.ok('POST', '/v1/tools', c.owner, {
      name: 'orders.create',
      description: 'Places an order.',
      parameters: { type: 'object', properties: { item: { type: 'string' } } },
      request: { method: 'POST', url: `${action.baseUrl}/orders` },
    });
    const agent = await c.ok<{ id: string }>('POST', '/v1/agents', c.owner, {
      name: 'orders',
      instructions: 'You place orders.',
      model: 'agent',
      tools: [{ name: 'orders.create', policy: 'ask' }],
    });
    upstream.script = (_req, n) =>
      n === 1
        ? { toolCalls: [{ name: 'orders_create', arguments: { item: 'book' } }] }
        : { content: 'Ordered.' };
    action.respond = () => ({ status: 201, body: { id: 'o-1' } });
    const run = await c.ok<{ id: string }>('POST', `/v1/agents/${agent.id}/runs`, c.member, {
      input: 'Order a book.',
    });
    await worker.drain();
    expect(messages(run.id).map((m) => m.type)).toEqual(['run.awaiting_approval']);
    await c.ok('POST', `/v1/runs/${run.id}/approvals/c1_0`, c.admin, { decision: 'approve' });
    await worker.drain();
    const sent = messages(run.id);
    expect(sent.map((m) => [m.type, m.data.status])).toEqual([
      ['run.awaiting_approval', 'awaiting_approval'],
      ['run.finished', 'succeeded'],
    ]);
    expect(sent[1]?.data).toMatchObject({ runId: run.id, agentId: agent.id });
    const mine = receiver.requests.filter((r) => r.body.includes(run.id));
    for (const r of mine) expect(await verifyStandardWebhook(hook.secret, r)).toBe(true);
  });
});
