import { expect } from 'vitest';
import { JobQueue } from '../../src/platform/queue/queue.js';
import type { Database } from '../../src/platform/db/database.js';
import type { TestApp } from './app.js';
import { apiClient } from './identity-api.js';
import type { AgentUpstream } from '../fakes/fake-openai-agent.js';

/** A fixed master key for the suites (providers' and tools' credentials are encrypted under it). */
export const COPILOT_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * A tenant whose model alias `agent` routes to the fake agent upstream (as gpt-4o-mini, so its
 * calls are priced), with owner, admin and two member keys, and a client that expects success.
 */
export async function copilotTenant(app: TestApp, upstream: AgentUpstream) {
  const tenant = await app.createTenant();
  const call = apiClient(app);
  const ok = async <T = Record<string, unknown>>(
    method: Method,
    url: string,
    key: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<T> => {
    const r = await call(method, url, key, body, headers);
    expect(r.status, `${method} ${url}: ${r.text}`).toBeLessThan(300);
    return r.body as T;
  };
  const owner = tenant.ownerKey;
  await ok('POST', '/v1/providers', owner, {
    name: 'main',
    type: 'openai',
    baseUrl: upstream.baseUrl,
    apiKey: 'sk-fake',
  });
  await ok('POST', '/v1/routes', owner, {
    alias: 'agent',
    targets: [{ provider: 'main', model: 'gpt-4o-mini', weight: 1 }],
  });
  let n = 0;
  const key = async (role: string, groups: string[] = []) =>
    (
      await ok<{ secret: string; id: string }>('POST', '/v1/api-keys', owner, {
        name: `k${++n}-${role}`,
        role,
        groups,
      })
    ).secret;
  return {
    tenant,
    owner,
    admin: await key('admin'),
    member: await key('member'),
    member2: await key('member'),
    key,
    call,
    ok,
  };
}

/** A worker running only the copilot's jobs; `drain()` runs every due job to the end. */
export function copilotWorker(app: TestApp, db: Database): JobQueue {
  const q = new JobQueue(db, {
    pollIntervalMs: 50,
    concurrency: 2,
    leaseMs: 30_000,
    retryBaseMs: 10,
    retryMaxMs: 50,
  });
  for (const [kind, handler] of Object.entries(app.copilot.jobs)) q.register(kind, handler);
  return q;
}

/** The SSE events of a text/event-stream body: id, event name and parsed data. */
export function parseSse(text: string): {
  id: number;
  event: string;
  data: { seq: number; type: string; data: Record<string, unknown> };
}[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const field = (name: string) =>
        block
          .split('\n')
          .find((l) => l.startsWith(`${name}: `))
          ?.slice(name.length + 2) ?? '';
      return {
        id: Number(field('id')),
        event: field('event'),
        data: JSON.parse(field('data')) as {
          seq: number;
          type: string;
          data: Record<string, unknown>;
        },
      };
    });
}
