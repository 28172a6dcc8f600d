/**
 * Issue #23: a run's model calls stream through the gateway; token deltas reach WebSocket and
 * SSE subscribers (through the bus only, never written as events), and their concatenation is
 * the step's model.message. Streamed tool calls are assembled and run. A slow reader loses
 * deltas (oldest first), never state events.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { COPILOT_MASTER_KEY, copilotTenant, copilotWorker } from './helpers/copilot.js';
import { listenWs, openRealtime, type RealtimeFrame } from './helpers/realtime.js';
import { startAgentUpstream, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { ROLE_PERMISSIONS } from '../src/identity/index.js';
import type { Principal } from '../src/platform/http/principal.js';

interface Run {
  id: string;
  status: string;
}
interface EventView {
  seq: number;
  type: string;
  data: Record<string, unknown>;
}

const ORDER_PARAMS = {
  type: 'object',
  properties: { item: { type: 'string' }, note: { type: 'string' } },
  required: ['item'],
  additionalProperties: false,
};
const ANSWER = 'Ordered the book "Dune" for you; it ships tomorrow — ünïcødé and all.';

async function metricValue(app: TestApp, name: string): Promise<number> {
  const m = app.metrics.registry.getSingleMetric(name);
  const v = (await m?.get())?.values[0]?.value;
  return typeof v === 'number' ? v : 0;
}

/** The SSE blocks of a text/event-stream body: event name, id (if any) and parsed data. */
function sseBlocks(text: string): { event: string; id: string; data: Record<string, unknown> }[] {
  return text
    .split('\n\n')
    .filter((b) => b.trim() !== '' && !b.startsWith(':'))
    .map((block) => {
      const field = (name: string) =>
        block
          .split('\n')
          .find((l) => l.startsWith(`${name}: `))
          ?.slice(name.length + 2) ?? '';
      return {
        event: field('event'),
        id: field('id'),
        data: JSON.parse(field('data')) as Record<string, unknown>,
      };
    });
}

describe.each(testDrivers())('copilot streamed model calls (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let upstream: AgentUpstream;
  let action: ActionServer;
  let worker: JobQueue;
  let base: string;

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(
      t.db,
      { RAMPART_MASTER_KEY: COPILOT_MASTER_KEY, COPILOT_REALTIME_QUEUE_MAX: '64' },
      { redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined },
    );
    upstream = await startAgentUpstream();
    action = await startActionServer();
    action.respond = () => ({ status: 201, body: { id: 'o-1' } });
    worker = copilotWorker(app, t.db);
    base = await listenWs(app);
    // One call to the action (streamed as tool-call deltas), then a streamed answer.
    upstream.script = (req) =>
      req.messages.some((m) => m.role === 'tool')
        ? { content: ANSWER }
        : {
            content: 'Let me order it.',
            toolCalls: [{ name: 'orders_create', arguments: { item: 'Dune', note: 'gift wrap' } }],
          };
  });
  afterAll(async () => {
    await app?.close();
    await upstream?.close();
    await action?.close();
    await t?.close();
  });

  async function setup(policy: 'ask' | 'always') {
    const c = await copilotTenant(app, upstream);
    await c.ok('POST', '/v1/tools', c.owner, {
      name: 'orders.create',
      description: 'Places an order.',
      parameters: ORDER_PARAMS,
      request: { method: 'POST', url: `${action.baseUrl}/orders` },
    });
    const a = await c.ok<{ id: string }>('POST', '/v1/agents', c.owner, {
      name: 'orders',
      instructions: 'You place orders.',
      model: 'agent',
      tools: [{ name: 'orders.create', policy }],
    });
    const start = (key: string) =>
      c.ok<Run>('POST', `/v1/agents/${a.id}/runs`, key, { input: 'Order Dune.' });
    const events = async (runId: string) =>
      (await c.ok<{ data: EventView[] }>('GET', `/v1/runs/${runId}/events`, c.member)).data;
    return { ...c, start, events };
  }

  /** Each model.message's text beside the concatenation of the deltas of its step. */
  function compare(events: EventView[], deltas: { step?: number; text?: string }[]) {
    return events
      .filter((e) => e.type === 'model.message')
      .map((e) => ({
        message: e.data.content,
        deltas: deltas
          .filter((d) => d.step === e.data.step)
          .map((d) => d.text)
          .join(''),
      }));
  }

  it('a WebSocket subscriber receives deltas whose concatenation is each model.message; tool calls stream too', async () => {
    const s = await setup('always');
    const streamedBefore = upstream.streamed;
    const run = await s.start(s.member);
    const client = await openRealtime(base, s.member);
    client.send({ type: 'subscribe', runId: run.id });
    await client.next((f) => f.type === 'subscribed');
    await worker.drain();
    await client.next((f) => f.type === 'ended' && f.runId === run.id);
    // Deltas travel on the bus; with Redis they may trail the last event a little.
    const events = await s.events(run.id);
    const deltas = () => client.frames.filter((f: RealtimeFrame) => f.type === 'delta');
    await vi.waitFor(() =>
      expect(compare(events, deltas())).toEqual([
        { message: 'Let me order it.', deltas: 'Let me order it.' },
        { message: ANSWER, deltas: ANSWER },
      ]),
    );
    // Many small deltas, each after the event that preceded its step.
    expect(deltas().length).toBeGreaterThan(20);
    const stepTwo = events.find((e) => e.type === 'model.message' && e.data.step === 2);
    expect(
      new Set(
        deltas()
          .filter((d) => d.step === 2)
          .map((d) => (d as { afterSeq?: number }).afterSeq),
      ),
    ).toEqual(new Set([(stepTwo?.seq ?? 0) - 1]));
    // Both model calls streamed through the gateway; the tool call assembled from its deltas.
    expect(upstream.streamed - streamedBefore).toBe(2);
    expect(action.deliveries.at(-1)?.body).toEqual({ item: 'Dune', note: 'gift wrap' });
    expect(events.map((e) => e.type)).toEqual([
      'run.started',
      'model.message',
      'tool.call.requested',
      'tool.call.succeeded',
      'model.message',
      'run.succeeded',
    ]);
    // Deltas are never written as events.
    expect(events.some((e) => e.type.includes('delta'))).toBe(false);
    // The gateway metered both streamed calls for the run's caller (usage and cost on the run).
    const done = await s.ok<{
      usage: { promptTokens: number; completionTokens: number; costUsd: number };
    }>('GET', `/v1/runs/${run.id}`, s.member);
    expect(done.usage.promptTokens).toBe(200);
    expect(done.usage.completionTokens).toBe(40);
    expect(done.usage.costUsd).toBeGreaterThan(0);
    client.close();
  });

  it('an SSE subscriber with deltas=true receives the deltas beside the events (without ids)', async () => {
    const s = await setup('always');
    const run = await s.start(s.member);
    const { port } = app.app.server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/v1/runs/${run.id}/events?deltas=true`, {
      headers: { authorization: `Bearer ${s.member}`, accept: 'text/event-stream' },
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    // The opening comment says the deltas are subscribed: only then does the run start.
    while (!text.includes(': deltas subscribed'))
      text += decoder.decode((await reader.read()).value);
    await worker.drain();
    for (let r = await reader.read(); !r.done; r = await reader.read())
      text += decoder.decode(r.value, { stream: true });
    const blocks = sseBlocks(text);
    const events = blocks
      .filter((b) => b.event !== 'delta')
      .map((b) => b.data as unknown as EventView);
    const deltas = blocks.filter((b) => b.event === 'delta');
    expect(deltas.every((d) => d.id === '' && d.data.runId === run.id)).toBe(true);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    // With Redis a delta could be announced after the stream ended; in-process it cannot.
    const cmp = compare(
      events,
      deltas.map((d) => d.data as { step?: number; text?: string }),
    );
    if (driver === 'pglite')
      expect(cmp).toEqual([
        { message: 'Let me order it.', deltas: 'Let me order it.' },
        { message: ANSWER, deltas: ANSWER },
      ]);
    else for (const c of cmp) expect(c.message).toContain(c.deltas.slice(0, 10));
    // Without deltas=true the stream is the log alone.
    const plain = await s.call('GET', `/v1/runs/${run.id}/events`, s.member, undefined, {
      accept: 'text/event-stream',
    });
    expect(sseBlocks(plain.text).map((b) => b.event)).not.toContain('delta');
  });

  it('a slow SSE reader loses deltas oldest-first, never a state event', async () => {
    const s = await setup('ask');
    const run = await s.start(s.member);
    await worker.drain();
    const tenantId = s.tenant.id;
    const owner: Principal = {
      kind: 'api_key',
      tenantId,
      tenantSlug: s.tenant.slug,
      userId: null,
      keyId: null,
      role: 'owner',
      permissions: ROLE_PERMISSIONS.owner,
      groups: [],
    };
    const stream = app.copilot.runs.stream(owner, run.id, 0, { deltas: true });
    const got: string[] = [];
    await stream.next(); // the opening comment
    for (let i = 0; i < 3; i++) got.push((await stream.next()).value as string);
    const dropped = await metricValue(app, 'rampart_realtime_dropped_deltas_total');
    // The reader stops pulling; the run is approved and streams its answer, a character a
    // delta: more deltas than the stream holds (64).
    upstream.streamPiece = 1;
    await s.ok('POST', `/v1/runs/${run.id}/approvals/c1_0`, s.admin, { decision: 'approve' });
    await worker.drain().finally(() => (upstream.streamPiece = 3));
    const pieces = ANSWER.length;
    await vi.waitFor(async () =>
      expect(await metricValue(app, 'rampart_realtime_dropped_deltas_total')).toBe(
        dropped + pieces - 64,
      ),
    );
    for (let r = await stream.next(); !r.done; r = await stream.next()) got.push(r.value);
    const blocks = sseBlocks(got.join(''));
    // Every state event, in order, no gap.
    const seqs = blocks.filter((b) => b.event !== 'delta').map((b) => Number(b.id));
    const events = await s.events(run.id);
    expect(seqs).toEqual(events.map((e) => e.seq));
    expect(events.at(-1)?.type).toBe('run.succeeded');
    // The newest 64 deltas survived: the end of the answer, in order.
    const kept = blocks.filter((b) => b.event === 'delta').map((b) => String(b.data.text));
    expect(kept).toHaveLength(64);
    expect(ANSWER.endsWith(kept.join(''))).toBe(true);
  });
});
