import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROOT_TOKEN } from './helpers/app.js';
import { COPILOT_MASTER_KEY } from './helpers/copilot.js';
import { startServe, tempDataDir } from './helpers/serve-process.js';
import { startAgentUpstream, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';

// `rampart serve` on the embedded database runs the copilot's jobs itself: a run started over
// HTTP completes with no separate worker, and streams over a real connection.
describe('copilot in an embedded `rampart serve`', () => {
  let upstream: AgentUpstream;
  let action: ActionServer;
  const data = tempDataDir();

  beforeAll(async () => {
    upstream = await startAgentUpstream();
    action = await startActionServer();
  });
  afterAll(async () => {
    await upstream?.close();
    await action?.close();
    data.cleanup();
  });

  it('runs a run in-process and streams its events', async () => {
    const server = await startServe({
      RAMPART_DATA_DIR: data.dir,
      RAMPART_ROOT_TOKEN: ROOT_TOKEN,
      RAMPART_MASTER_KEY: COPILOT_MASTER_KEY,
      OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'true',
    });
    try {
      const send = async (method: string, path: string, key: string, body?: unknown) => {
        const res = await fetch(`${server.baseUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        expect(res.status, `${method} ${path}: ${text}`).toBeLessThan(300);
        return JSON.parse(text) as Record<string, unknown>;
      };
      const created = await send('POST', '/admin/v1/tenants', ROOT_TOKEN, {
        slug: 'acme',
        name: 'Acme',
      });
      const key = String(created.apiKey);
      await send('POST', '/v1/providers', key, {
        name: 'main',
        type: 'openai',
        baseUrl: upstream.baseUrl,
        apiKey: 'sk-fake',
      });
      await send('POST', '/v1/routes', key, {
        alias: 'agent',
        targets: [{ provider: 'main', model: 'gpt-4o-mini' }],
      });
      await send('POST', '/v1/tools', key, {
        name: 'tickets.close',
        description: 'Closes a ticket.',
        parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        request: { method: 'POST', url: `${action.baseUrl}/tickets/{id}/close` },
      });
      const agent = await send('POST', '/v1/agents', key, {
        name: 'helpdesk',
        instructions: 'Close tickets.',
        model: 'agent',
        tools: [{ name: 'tickets.close', policy: 'always' }],
      });
      upstream.script = (req) =>
        req.messages.some((m) => m.role === 'tool')
          ? { content: 'Closed.' }
          : { toolCalls: [{ name: 'tickets_close', arguments: { id: 't-7' } }] };
      const res = await fetch(`${server.baseUrl}/v1/agents/${String(agent.id)}/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ input: 'Close t-7', stream: true }),
        signal: AbortSignal.timeout(15_000),
      });
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const text = await res.text();
      const types = [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
      expect(types).toEqual([
        'run.started',
        'model.message',
        'tool.call.requested',
        'tool.call.succeeded',
        'model.message',
        'run.succeeded',
      ]);
      expect(action.to('POST /tickets/t-7/close')).toHaveLength(1);
      await vi.waitFor(async () => {
        const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
        expect(metrics).toMatch(/rampart_copilot_runs_total\{status="succeeded"\} 1/);
      });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 120_000);
});
