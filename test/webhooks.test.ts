import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { JobQueue } from '../src/platform/queue/queue.js';
import { recordWebhookEvent, type WebhookEvent } from '../src/webhooks/index.js';
import { createTestApp, untilKeyKnown, type TestApp } from './helpers/app.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { apiClient, auditOf } from './helpers/identity-api.js';
import { startReceiver, verifyStandardWebhook, type Receiver } from './helpers/webhook-receiver.js';

interface Hook {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  secret: string;
  previousSecretExpiresAt: string | null;
}
interface Delivery {
  id: string;
  seq: number;
  eventType: string;
  state: 'pending' | 'delivered' | 'dead';
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  payload: { type: string; timestamp: string; data: Record<string, unknown> };
  history: {
    attempt: number;
    statusCode: number | null;
    durationMs: number;
    error: string | null;
  }[];
}

const MASTER_KEY = randomBytes(32).toString('base64');

describe.each(testDrivers())('webhooks: outbox, signed deliveries, retries (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let queue: JobQueue;
  const receivers: Receiver[] = [];

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(
      t.db,
      {
        RAMPART_MASTER_KEY: MASTER_KEY,
        WEBHOOK_RETRY_BASE_MS: '20',
        WEBHOOK_RETRY_MAX_MS: '40',
        WEBHOOK_MAX_ATTEMPTS: '3',
        WEBHOOK_TIMEOUT_MS: '1500',
      },
      { redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined },
    );
    queue = new JobQueue(t.db, {
      pollIntervalMs: 50,
      concurrency: 4,
      leaseMs: 30_000,
      retryBaseMs: 10,
      retryMaxMs: 50,
    });
    for (const [kind, handler] of Object.entries(app.webhooks.jobs)) queue.register(kind, handler);
  });
  afterAll(async () => {
    await queue?.stop(100);
    for (const r of receivers) await r.close();
    await app?.close();
    await t?.close();
  });

  const receiver = async (plan?: (n: number) => number | 'hang') => {
    const r = await startReceiver(plan);
    receivers.push(r);
    return r;
  };

  async function tenant() {
    const tn = await app.createTenant();
    const call = apiClient(app);
    const ok = async <T>(
      method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
      url: string,
      body?: unknown,
    ) => {
      const r = await call(method, url, tn.ownerKey, body);
      expect(r.status, `${method} ${url}: ${r.text}`).toBeLessThan(300);
      return r.body as T;
    };
    const hook = (body: Record<string, unknown>) => ok<Hook>('POST', '/v1/webhooks', body);
    const deliveries = async (id: string) =>
      (await ok<{ data: Delivery[] }>('GET', `/v1/webhooks/${id}/deliveries`)).data;
    const emit = (type: WebhookEvent, data: Record<string, unknown>) =>
      t.db.withTenant({ tenantId: tn.id, userId: null, groups: [] }, (tx) =>
        recordWebhookEvent(tx, type, data),
      );
    /** Runs delivery jobs (waiting out retry delays) until the tenant has no pending delivery. */
    const deliverAll = async () => {
      for (let i = 0; i < 200; i++) {
        await queue.drain();
        const { rows } = await t.asOwner((q) =>
          q.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM webhook_deliveries WHERE tenant_id = $1 AND state = 'pending'`,
            [tn.id],
          ),
        );
        if (rows[0]?.n === 0) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('deliveries still pending');
    };
    return { ...tn, call, ok, hook, deliveries, emit, deliverAll };
  }

  it('manages endpoints: admin only, the secret answered once, URLs and secrets validated', async () => {
    const c = await tenant();
    const r = await receiver();
    const member = (
      await c.ok<{ secret: string }>('POST', '/v1/api-keys', { name: 'm', role: 'member' })
    ).secret;
    const refused = await c.call('POST', '/v1/webhooks', member, {
      url: r.url,
      events: ['document.ready'],
    });
    expect(refused.status).toBe(403);
    const created = await c.hook({ url: r.url, events: ['document.ready', 'document.ready'] });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.events).toEqual(['document.ready']);
    const read = await c.ok<Record<string, unknown>>('GET', `/v1/webhooks/${created.id}`);
    expect(read).not.toHaveProperty('secret');
    expect(JSON.stringify(await c.ok('GET', '/v1/webhooks'))).not.toContain(created.secret);
    // The secret is stored encrypted, not as given.
    const stored = await t.asOwner((q) =>
      q.query(`SELECT secret_envelope::text AS s FROM webhook_endpoints WHERE id = $1`, [
        created.id,
      ]),
    );
    expect(JSON.stringify(stored.rows)).not.toContain(created.secret.slice(6));

    const given = `whsec_${randomBytes(32).toString('base64')}`;
    expect((await c.hook({ url: r.url, events: ['run.finished'], secret: given })).secret).toBe(
      given,
    );
    for (const bad of [
      { url: 'ftp://example.com/x', events: ['run.finished'] },
      { url: r.url, events: ['no.such.event'] },
      { url: r.url, events: ['run.finished'], secret: 'whsec_short' },
      { url: 'http://user:pw@example.com/x', events: ['run.finished'] },
    ])
      expect((await c.call('POST', '/v1/webhooks', c.ownerKey, bad)).status).toBe(400);

    const patched = await c.ok<Hook>('PATCH', `/v1/webhooks/${created.id}`, { enabled: false });
    expect(patched.enabled).toBe(false);
    await c.ok('DELETE', `/v1/webhooks/${created.id}`);
    expect((await c.call('GET', `/v1/webhooks/${created.id}`, c.ownerKey)).status).toBe(404);
    // Another tenant never sees it.
    const other = await tenant();
    const mine = await c.hook({ url: r.url, events: ['run.finished'] });
    expect((await other.call('GET', `/v1/webhooks/${mine.id}`, other.ownerKey)).status).toBe(404);
  });

  it('signs every delivery so an independent Standard Webhooks verifier accepts it; a ping shows in the deliveries', async () => {
    const c = await tenant();
    const r = await receiver();
    const h = await c.hook({ url: r.url, events: ['document.ready'] });
    const ping = await c.ok<Delivery>('POST', `/v1/webhooks/${h.id}/ping`);
    expect(ping.state).toBe('pending');
    await c.deliverAll();
    expect(r.requests).toHaveLength(1);
    const got = r.requests[0]!;
    expect(got.id).toBe(ping.id);
    expect(await verifyStandardWebhook(h.secret, got)).toBe(true);
    // A changed body, id or another secret does not verify.
    expect(await verifyStandardWebhook(h.secret, { ...got, body: `${got.body} ` })).toBe(false);
    expect(await verifyStandardWebhook(h.secret, { ...got, id: 'other' })).toBe(false);
    const stranger = `whsec_${randomBytes(32).toString('base64')}`;
    expect(await verifyStandardWebhook(stranger, got)).toBe(false);
    expect(JSON.parse(got.body)).toMatchObject({ type: 'webhook.ping', data: { webhookId: h.id } });

    const [d] = await c.deliveries(h.id);
    expect(d).toMatchObject({ id: ping.id, state: 'delivered', attempts: 1, lastStatus: 200 });
    expect(d?.history).toHaveLength(1);
    expect(d?.history[0]).toMatchObject({ attempt: 1, statusCode: 200, error: null });
    expect(d?.history[0]?.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('writes the outbox in the event’s transaction: a rolled-back event sends nothing', async () => {
    const c = await tenant();
    const docs = await receiver();
    const runs = await receiver();
    await c.hook({ url: docs.url, events: ['document.ready', 'document.failed'] });
    await c.hook({ url: runs.url, events: ['run.finished'] });
    await expect(
      t.db.withTenant({ tenantId: c.id, userId: null, groups: [] }, async (tx) => {
        await recordWebhookEvent(tx, 'document.ready', { documentId: 'rolled-back' });
        throw new Error('the change fails after the event was recorded');
      }),
    ).rejects.toThrow('the change fails');
    await c.emit('document.ready', { documentId: 'd1' });
    await c.deliverAll();
    expect(docs.requests.map((x) => JSON.parse(x.body) as unknown)).toEqual([
      expect.objectContaining({ type: 'document.ready', data: { documentId: 'd1' } }),
    ]);
    expect(runs.requests).toHaveLength(0);
  });

  it('a receiver that fails then recovers gets each event once per delivery id, in order', async () => {
    const c = await tenant();
    // The first two requests fail (500, then 503); every later one succeeds.
    const r = await receiver((n) => (n === 1 ? 500 : n === 2 ? 503 : 204));
    const h = await c.hook({ url: r.url, events: ['document.ready'] });
    for (const n of [1, 2, 3]) await c.emit('document.ready', { n });
    await c.deliverAll();
    const sent = (await c.deliveries(h.id)).sort((a, b) => a.seq - b.seq);
    expect(sent.map((d) => d.payload.data.n)).toEqual([1, 2, 3]);
    expect(sent.map((d) => d.state)).toEqual(['delivered', 'delivered', 'delivered']);
    const [first, second, third] = sent.map((d) => d.id);
    // The first event was tried until it went through; the later ones waited behind it.
    expect(r.requests.map((x) => x.id)).toEqual([first, first, first, second, third]);
    expect(r.accepted().map((x) => x.id)).toEqual([first, second, third]);
    expect(sent[0]?.history.map((a) => a.statusCode)).toEqual([500, 503, 204]);
    for (const x of r.requests) expect(await verifyStandardWebhook(h.secret, x)).toBe(true);
  });

  it('numbers events committed at once without gaps and delivers each endpoint’s in that order', async () => {
    const c = await tenant();
    const r = await receiver();
    const hooks = [
      await c.hook({ url: r.url, events: ['document.ready'] }),
      await c.hook({ url: r.url, events: ['document.ready'] }),
    ];
    await Promise.all(Array.from({ length: 20 }, (_, n) => c.emit('document.ready', { n })));
    await c.deliverAll();
    for (const h of hooks) {
      const sent = (await c.deliveries(h.id)).sort((a, b) => a.seq - b.seq);
      expect(sent.map((d) => d.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const ids = new Set(sent.map((d) => d.id));
      expect(r.requests.filter((x) => ids.has(x.id)).map((x) => x.id)).toEqual(
        sent.map((d) => d.id),
      );
    }
  });

  it('goes dead after the last attempt; a retry delivers it with the same webhook-id', async () => {
    const c = await tenant();
    const r = await receiver(() => 500);
    const h = await c.hook({ url: r.url, events: ['run.finished'] });
    await c.emit('run.finished', { runId: 'r1' });
    await c.deliverAll();
    const [dead] = await c.deliveries(h.id);
    expect(dead).toMatchObject({ state: 'dead', attempts: 3, lastStatus: 500 });
    expect(dead?.history.map((a) => a.statusCode)).toEqual([500, 500, 500]);
    expect(r.requests).toHaveLength(3);

    r.plan = () => 200;
    const retry = await c.call(
      'POST',
      `/v1/webhooks/${h.id}/deliveries/${dead?.id}/retry`,
      c.ownerKey,
    );
    expect(retry.status, retry.text).toBe(202);
    expect((retry.body as Delivery).state).toBe('pending');
    expect(await auditOf(t, c.id, retry.requestId)).toMatchObject([
      { action: 'webhook_delivery.retried', target_id: h.id, details: { deliveryId: dead?.id } },
    ]);
    await c.deliverAll();
    const [done] = await c.deliveries(h.id);
    expect(done).toMatchObject({ id: dead?.id, state: 'delivered', attempts: 4, lastStatus: 200 });
    expect(r.accepted().map((x) => x.id)).toEqual([dead?.id]);
    const again = await c.call(
      'POST',
      `/v1/webhooks/${h.id}/deliveries/${dead?.id}/retry`,
      c.ownerKey,
    );
    expect(again.status).toBe(409);
  });

  it('a receiver that hangs does not hold up another endpoint', async () => {
    const c = await tenant();
    const stuck = await receiver(() => 'hang');
    const fine = await receiver();
    const slow = await c.hook({ url: stuck.url, events: ['document.ready'] });
    await c.hook({ url: fine.url, events: ['document.ready'] });
    await c.emit('document.ready', { n: 1 });
    await queue.start();
    try {
      // The healthy endpoint is served while the other's request is still unanswered.
      await vi.waitFor(
        () => {
          expect(fine.accepted()).toHaveLength(1);
          expect(stuck.requests).toHaveLength(1);
        },
        { timeout: 10_000, interval: 20 },
      );
      // The hung attempt fails at the timeout and is recorded as such.
      await vi.waitFor(
        async () => {
          const [d] = await c.deliveries(slow.id);
          expect(d?.history[0]?.error).toBe('no answer within 1500 ms');
          expect(d?.history[0]?.statusCode).toBeNull();
        },
        { timeout: 10_000, interval: 50 },
      );
    } finally {
      await queue.stop(100);
    }
  });

  it('rotates the secret with overlap: both signatures during it, only the new one after', async () => {
    const c = await tenant();
    const r = await receiver();
    const h = await c.hook({ url: r.url, events: ['document.ready'] });
    const rotated = await c.ok<Hook>('POST', `/v1/webhooks/${h.id}/rotate-secret`, {
      overlapSeconds: 3600,
    });
    expect(rotated.secret).not.toBe(h.secret);
    expect(rotated.previousSecretExpiresAt).not.toBeNull();
    await c.emit('document.ready', { n: 1 });
    await c.deliverAll();
    const during = r.requests[0]!;
    expect(during.signature.split(' ')).toHaveLength(2);
    expect(await verifyStandardWebhook(h.secret, during)).toBe(true);
    expect(await verifyStandardWebhook(rotated.secret, during)).toBe(true);

    const sharp = await c.ok<Hook>('POST', `/v1/webhooks/${h.id}/rotate-secret`, {
      overlapSeconds: 0,
    });
    expect(sharp.previousSecretExpiresAt).toBeNull();
    await c.emit('document.ready', { n: 2 });
    await c.deliverAll();
    const after = r.requests[1]!;
    expect(after.signature.split(' ')).toHaveLength(1);
    expect(await verifyStandardWebhook(sharp.secret, after)).toBe(true);
    expect(await verifyStandardWebhook(rotated.secret, after)).toBe(false);
  });

  it('keeps receivers off private addresses unless the operator allows them', async () => {
    const guarded = await createTestApp(t.db, {
      RAMPART_MASTER_KEY: MASTER_KEY,
      OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'false',
    });
    try {
      const c = await tenant();
      await untilKeyKnown([guarded], c.ownerKey);
      const r = await receiver();
      const refused = await apiClient(guarded)('POST', '/v1/webhooks', c.ownerKey, {
        url: r.url,
        events: ['document.ready'],
      });
      expect(refused.status).toBe(400);
      expect(refused.text).toContain('not a public address');
      // Registered where private addresses were allowed, it is refused at delivery: dead at once.
      const h = await c.hook({ url: r.url, events: ['document.ready'] });
      await c.emit('document.ready', { n: 1 });
      const guardedQueue = new JobQueue(t.db, {
        pollIntervalMs: 50,
        concurrency: 2,
        leaseMs: 30_000,
        retryBaseMs: 10,
        retryMaxMs: 50,
      });
      for (const [kind, handler] of Object.entries(guarded.webhooks.jobs))
        guardedQueue.register(kind, handler);
      await guardedQueue.drain();
      const [d] = await c.deliveries(h.id);
      expect(d).toMatchObject({ state: 'dead', attempts: 1, lastStatus: null });
      expect(d?.lastError).toContain('not a public address');
      expect(r.requests).toHaveLength(0);
    } finally {
      await guarded.close();
    }
  });
});
