import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { COPILOT_MASTER_KEY, copilotTenant, copilotWorker } from './helpers/copilot.js';
import { listenWs, openRealtime, seqsOf, type RealtimeClient } from './helpers/realtime.js';
import { startAgentUpstream, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';
import type { JobQueue } from '../src/platform/queue/queue.js';

interface Run {
  id: string;
  status: string;
}

const ORDER_PARAMS = {
  type: 'object',
  properties: { item: { type: 'string' } },
  required: ['item'],
  additionalProperties: false,
};

async function metricValue(app: TestApp, name: string): Promise<number> {
  const m = app.metrics.registry.getSingleMetric(name);
  const v = (await m?.get())?.values[0]?.value;
  return typeof v === 'number' ? v : 0;
}

describe.each(testDrivers())('copilot realtime WebSocket (%s)', (driver) => {
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
      {
        RAMPART_MASTER_KEY: COPILOT_MASTER_KEY,
        // Small, so a paused reader fills the queue quickly; every frame waits for the socket.
        COPILOT_REALTIME_QUEUE_MAX: '4',
        COPILOT_REALTIME_BUFFER_BYTES: '1',
      },
      { redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined },
    );
    upstream = await startAgentUpstream();
    action = await startActionServer();
    action.respond = () => ({ status: 201, body: { id: 'o-1' } });
    worker = copilotWorker(app, t.db);
    base = await listenWs(app);
    // Every run here: one call to the action (asked first), then an answer.
    upstream.script = (req) =>
      req.messages.some((m) => m.role === 'tool')
        ? { content: 'Ordered.' }
        : { toolCalls: [{ name: 'orders_create', arguments: { item: 'book' } }] };
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
      c.ok<Run>('POST', `/v1/agents/${a.id}/runs`, key, { input: 'Order a book.' });
    return { ...c, start };
  }

  const ended = (runId: string) => (f: { type: string; runId?: string }) =>
    f.type === 'ended' && f.runId === runId;

  it('a subscriber receives the run’s events live, in order, until it ends', async () => {
    const s = await setup('always');
    const run = await s.start(s.member);
    const client = await openRealtime(base, s.member);
    client.send({ type: 'subscribe', runId: run.id });
    await client.next((f) => f.type === 'subscribed');
    await worker.drain();
    await client.next(ended(run.id));
    const events = client.frames.filter((f) => f.type === 'event').map((f) => f.event);
    expect(events.map((e) => e?.type)).toEqual([
      'run.started',
      'model.message',
      'tool.call.requested',
      'tool.call.succeeded',
      'model.message',
      'run.succeeded',
    ]);
    expect(seqsOf(client.frames, run.id)).toEqual([1, 2, 3, 4, 5, 6]);
    // Resuming from a sequence number replays only what follows it.
    client.send({ type: 'subscribe', runId: run.id, after: 4 });
    await vi.waitFor(() => expect(client.frames.filter(ended(run.id))).toHaveLength(2));
    expect(seqsOf(client.frames, run.id).slice(6)).toEqual([5, 6]);
    client.close();
  });

  it('refuses missing or bad credentials and a caller without agents:run', async () => {
    const s = await setup('always');
    await expect(openRealtime(base, undefined)).rejects.toThrow('HTTP 401');
    await expect(openRealtime(base, 'rmp_not_a_real_key_0000000000000000')).rejects.toThrow(
      'HTTP 401',
    );
    await expect(openRealtime(base, await s.key('viewer'))).rejects.toThrow('HTTP 403');
    // A plain GET (no upgrade) is told to upgrade.
    const plain = await s.call('GET', '/v1/realtime', s.member);
    expect(plain.status).toBe(426);
  });

  it('never delivers a run of another tenant or another member', async () => {
    const s = await setup('ask');
    const other = await setup('ask');
    const mine = await s.start(s.member);
    const theirs = await s.start(s.member2);
    const foreign = await other.start(other.member);
    const client = await openRealtime(base, s.member);
    for (const runId of [theirs.id, foreign.id]) client.send({ type: 'subscribe', runId });
    const refusals = await vi.waitFor(() => {
      const e = client.frames.filter((f) => f.type === 'error');
      expect(e).toHaveLength(2);
      return e;
    });
    // Each subscription is answered on its own (its own RLS read): in either order.
    expect(refusals.map((f) => [f.code, f.runId])).toEqual(
      expect.arrayContaining([
        ['not_found', theirs.id],
        ['not_found', foreign.id],
      ]),
    );
    client.send({ type: 'subscribe', runId: mine.id });
    await worker.drain();
    await client.next((f) => f.type === 'event' && f.event?.type === 'approval.requested');
    // Deltas of the others' runs do not reach it either.
    app.copilot.bus.publishDelta(theirs.id, { step: 2, afterSeq: 3, text: 'secret-theirs' });
    app.copilot.bus.publishDelta(mine.id, { step: 2, afterSeq: 3, text: 'mine' });
    await client.next((f) => f.type === 'delta' && f.runId === mine.id);
    for (const runId of [theirs.id, foreign.id])
      expect(client.frames.filter((f) => f.runId === runId).map((f) => f.type)).toEqual(['error']);
    expect(JSON.stringify(client.frames)).not.toContain('secret-theirs');
    client.close();
  });

  it('a slow reader loses deltas (oldest first), never state events, is closed with 1013 and resumes', async () => {
    const s = await setup('ask');
    const run = await s.start(s.member);
    const slow: RealtimeClient = await openRealtime(base, s.member);
    slow.send({ type: 'subscribe', runId: run.id });
    await worker.drain();
    await slow.next((f) => f.event?.type === 'approval.requested');
    const before = {
      dropped: await metricValue(app, 'rampart_realtime_dropped_deltas_total'),
      slow: await metricValue(app, 'rampart_realtime_slow_closed_total'),
    };
    // The client stops reading; deltas pile up until the kernel buffers and the queue are full.
    slow.ws.pause();
    const chunk = 'x'.repeat(64 * 1024);
    let n = 0;
    await vi.waitFor(
      async () => {
        for (let i = 0; i < 20; i++)
          app.copilot.bus.publishDelta(run.id, { step: 2, afterSeq: 3, text: `${++n}:${chunk}` });
        expect(await metricValue(app, 'rampart_realtime_dropped_deltas_total')).toBeGreaterThan(
          before.dropped,
        );
      },
      { timeout: 20_000, interval: 50 },
    );
    // State events arrive while it is still not reading: more than the queue holds.
    await s.ok('POST', `/v1/runs/${run.id}/approvals/c1_0`, s.admin, { decision: 'approve' });
    await worker.drain();
    await vi.waitFor(async () =>
      expect(await metricValue(app, 'rampart_realtime_slow_closed_total')).toBe(before.slow + 1),
    );
    slow.ws.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(1013);
    const got = seqsOf(slow.frames, run.id);
    // Every state event it got is there, in order, with no gap; deltas came in order, some lost.
    expect(got).toEqual(got.map((_, i) => i + 1));
    const deltas = slow.frames
      .filter((f) => f.type === 'delta')
      .map((f) => Number(f.text?.split(':')[0]));
    expect(deltas.length).toBeLessThan(n);
    expect(deltas).toEqual([...deltas].sort((a, b) => a - b));
    const last = got.at(-1) ?? 0;
    expect(last).toBeLessThan(8);

    const again = await openRealtime(base, s.member);
    again.send({ type: 'subscribe', runId: run.id, after: last });
    await again.next(ended(run.id));
    const all = [...got, ...seqsOf(again.frames, run.id)];
    expect(all).toEqual(all.map((_, i) => i + 1));
    expect(again.frames.filter((f) => f.type === 'event').at(-1)?.event?.type).toBe(
      'run.succeeded',
    );
    again.close();
  });

  it.runIf(driver === 'postgres' && TEST_REDIS_URL)(
    'an event made by one replica reaches a client connected to another (Redis)',
    async () => {
      const s = await setup('always');
      // Replica B never polls in this test's time: only a Redis notification can wake it.
      const b = await createTestApp(
        t.db,
        { RAMPART_MASTER_KEY: COPILOT_MASTER_KEY, COPILOT_STREAM_POLL_MS: '60000' },
        { redisUrl: TEST_REDIS_URL },
      );
      try {
        const run = await s.start(s.member);
        const client = await openRealtime(await listenWs(b), s.member);
        client.send({ type: 'subscribe', runId: run.id });
        await client.next((f) => f.type === 'subscribed');
        // Replica A's worker drives the run; A's bus publishes a delta too.
        await worker.drain();
        await client.next(ended(run.id));
        expect(seqsOf(client.frames, run.id)).toEqual([1, 2, 3, 4, 5, 6]);
        // A token delta exists only on the bus: published on A, it reaches the client on B.
        const second = await s.start(s.member);
        const live = await openRealtime(await listenWs(b), s.member);
        live.send({ type: 'subscribe', runId: second.id });
        await live.next((f) => f.type === 'subscribed');
        app.copilot.bus.publishDelta(second.id, { step: 1, afterSeq: 0, text: 'from A' });
        expect((await live.next((f) => f.type === 'delta')).text).toBe('from A');
        live.close();
        client.close();
      } finally {
        await b.close();
      }
    },
  );
});
