import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, SERVER_SECRET, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { COPILOT_MASTER_KEY, copilotTenant } from './helpers/copilot.js';
import { spawnRampart, type RampartProcess } from './helpers/serve-process.js';
import { startAgentUpstream, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';

// A `rampart worker` process shares the database over the network, so this runs on PostgreSQL
// only: the embedded database is one in-process connection (with it, `serve` runs the jobs).
describe.skipIf(!process.env.TEST_DATABASE_URL)(
  'copilot run survives a killed worker (postgres)',
  () => {
    let t: TestDatabase;
    let app: TestApp;
    let upstream: AgentUpstream;
    let action: ActionServer;
    const workers: RampartProcess[] = [];

    const startWorker = (): RampartProcess => {
      const settings = t.settings as { DATABASE_URL: string };
      const p = spawnRampart(['worker'], {
        DATABASE_URL: settings.DATABASE_URL,
        RAMPART_SECRET_KEY: SERVER_SECRET,
        RAMPART_MASTER_KEY: COPILOT_MASTER_KEY,
        OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'true',
        QUEUE_LEASE_MS: '3000',
        QUEUE_POLL_INTERVAL_MS: '100',
        LOG_LEVEL: 'warn',
      });
      workers.push(p);
      return p;
    };

    beforeAll(async () => {
      t = await createTestDatabase('postgres');
      app = await createTestApp(t.db, { RAMPART_MASTER_KEY: COPILOT_MASTER_KEY });
      upstream = await startAgentUpstream();
      action = await startActionServer();
    });
    afterAll(async () => {
      for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
      await app?.close();
      await upstream?.close();
      await action?.close();
      await t?.close();
    });

    it('SIGKILL between tool.call.requested and its outcome: after restart the run completes and the action saw one key', async () => {
      const c = await copilotTenant(app, upstream);
      await c.ok('POST', '/v1/tools', c.owner, {
        name: 'refunds.issue',
        description: 'Issues a refund.',
        parameters: {
          type: 'object',
          properties: { orderId: { type: 'string' } },
          required: ['orderId'],
        },
        request: { method: 'POST', url: `${action.baseUrl}/refunds/{orderId}` },
        credential: 'refund-cred-31337',
        timeoutMs: 60_000,
      });
      const agent = await c.ok<{ id: string }>('POST', '/v1/agents', c.owner, {
        name: 'refunds',
        instructions: 'Refund.',
        model: 'agent',
        tools: [{ name: 'refunds.issue', policy: 'always' }],
      });
      upstream.script = (req) =>
        req.messages.some((m) => m.role === 'tool')
          ? { content: 'Refunded.' }
          : { toolCalls: [{ name: 'refunds_issue', arguments: { orderId: 'o-42' } }] };
      // The first delivery is never answered: the worker is killed while it waits.
      action.respond = (_d, n) => (n === 1 ? 'hang' : { status: 201, body: { refund: 'r-1' } });
      const run = await c.ok<{ id: string }>('POST', `/v1/agents/${agent.id}/runs`, c.member, {
        input: 'Refund order o-42',
      });
      const events = async () =>
        (
          await c.ok<{ data: { type: string }[] }>('GET', `/v1/runs/${run.id}/events`, c.member)
        ).data.map((e) => e.type);

      const first = startWorker();
      await vi.waitFor(() => expect(action.deliveries.length).toBe(1), {
        timeout: 60_000,
        interval: 20,
      });
      expect((await events()).at(-1)).toBe('tool.call.requested');
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      expect((await events()).at(-1)).toBe('tool.call.requested');

      const second = startWorker();
      await vi.waitFor(
        async () =>
          expect(
            (await c.ok<{ status: string }>('GET', `/v1/runs/${run.id}`, c.member)).status,
          ).toBe('succeeded'),
        { timeout: 90_000, interval: 100 },
      );
      second.child.kill('SIGTERM');
      await second.exited;

      const deliveries = action.to('POST /refunds/o-42');
      expect(deliveries).toHaveLength(2);
      expect(new Set(deliveries.map((d) => d.headers['idempotency-key']))).toEqual(
        new Set([`${run.id}:c1_0`]),
      );
      expect(deliveries.every((d) => d.headers.authorization === 'Bearer refund-cred-31337')).toBe(
        true,
      );
      const types = await events();
      expect(types.filter((x) => x === 'tool.call.requested')).toHaveLength(1);
      expect(types.filter((x) => x === 'tool.call.succeeded')).toHaveLength(1);
      expect(types.at(-1)).toBe('run.succeeded');
      expect(first.stdout() + first.stderr() + second.stdout() + second.stderr()).not.toContain(
        'refund-cred-31337',
      );
    }, 180_000);
  },
);
