import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedUpstream, type ScriptedUpstream } from './fakes/fake-openai-scripted.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';
import { startAgentUpstream, toolResults, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { COPILOT_MASTER_KEY, copilotWorker } from './helpers/copilot.js';
import {
  createTestDatabase,
  testDrivers,
  TEST_REDIS_URL,
  type TestDatabase,
} from './helpers/db.js';
import { createWorker } from '../src/jobs.js';

interface Chunk {
  chunkId: string;
  documentId: string;
  title: string;
  contentHash: string;
  cited: boolean;
  status: string;
}
interface Rec {
  requestId: string;
  kind: string;
  question: string;
  chunks: Chunk[];
  promptTemplate: string | null;
  promptVersion: string | null;
  promptRendered: unknown;
  modelAlias: string | null;
  provider: string | null;
  model: string | null;
  answer: unknown;
  citations: { chunkId: string }[];
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  redactions: number;
  timings: Record<string, number>;
  flagged: { chunkId: string; status: string }[];
}

const PII_QUESTION =
  'I am jane.doe@example.com, card 4111 1111 1111 1111, phone +1 415 555 0100: how do refunds work?';

/** The value of one sample of the exposition text whose labels include all of `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe.each(testDrivers())(
  'governance: reconstruction and outbound data policy (%s)',
  (driver) => {
    let t: TestDatabase;
    let app: TestApp;
    let chat: ScriptedUpstream;
    let raw: FakeUpstream;
    let agentUp: AgentUpstream;
    let owner: string;
    let member: string;
    let otherOwner: string;
    const docs: Record<string, string> = {};

    const call = (
      method: 'GET' | 'POST' | 'PUT' | 'DELETE',
      url: string,
      key: string,
      payload?: Record<string, unknown>,
    ) =>
      app.app.inject({
        method,
        url,
        headers: bearer(key),
        ...(payload === undefined ? {} : { payload }),
      });
    const ok = async <T = Record<string, unknown>>(
      method: 'GET' | 'POST' | 'PUT' | 'DELETE',
      url: string,
      key: string,
      payload?: Record<string, unknown>,
    ): Promise<T> => {
      const r = await call(method, url, key, payload);
      expect(r.statusCode, `${method} ${url}: ${r.body}`).toBeLessThan(300);
      return (r.body ? r.json() : {}) as T;
    };
    const ask = async (question: string, mode = 'auto') => {
      const r = await call('POST', '/v1/ask', owner, { question, mode });
      expect(r.statusCode, r.body).toBe(200);
      return {
        id: String(r.headers['x-request-id']),
        body: r.json() as { citations: { chunkId: string }[] },
      };
    };
    const record = async (id: string, key = owner) => ok<Rec>('GET', `/v1/requests/${id}`, key);

    beforeAll(async () => {
      chat = await startScriptedUpstream();
      raw = await startFakeOpenAI();
      agentUp = await startAgentUpstream();
      t = await createTestDatabase(driver);
      app = await createTestApp(
        t.db,
        { RAMPART_MASTER_KEY: COPILOT_MASTER_KEY },
        { redisUrl: driver === 'postgres' ? TEST_REDIS_URL : undefined },
      );
      const tenant = await app.createTenant();
      owner = tenant.ownerKey;
      otherOwner = (await app.createTenant()).ownerKey;
      member = (
        await ok<{ secret: string }>('POST', '/v1/api-keys', owner, { name: 'm', role: 'member' })
      ).secret;
      // 'ext': a third-party provider that redacts PII and receives only public (or unclassified) chunks.
      await ok('POST', '/v1/providers', owner, {
        name: 'ext',
        type: 'openai',
        baseUrl: chat.baseUrl,
        apiKey: 'sk-fake',
        dataPolicy: { redactPii: true, allowDataClasses: ['public'] },
      });
      await ok('POST', '/v1/routes', owner, {
        alias: 'answer',
        targets: [{ provider: 'ext', model: 'gpt-4o-mini', weight: 1 }],
      });
      await ok('PUT', '/v1/knowledge/settings', owner, { answerAlias: 'answer' });
      for (const [name, payload] of Object.entries({
        refunds: {
          title: 'Refund policy',
          text: 'Customers may request a refund within 30 days of purchase.',
          tags: ['class:public'],
        },
        shipping: { title: 'Shipping refunds', text: 'Refunds of shipping costs take five days.' },
        salaries: {
          title: 'Salary bands',
          text: 'Refund of salary advances: the CEO earns 900000 per year.',
          tags: ['class:hr'],
        },
      })) {
        const r = await call('POST', '/v1/documents', owner, payload);
        expect(r.statusCode, r.body).toBe(202);
        docs[name] = (r.json() as { id: string }).id;
      }
      await createWorker(t.db, app.config, undefined, app.gateway.calls).drain();
      // The model cites every block it was given.
      chat.chatReply = (messages) => {
        const user = messages.find((m) => m.role === 'user')?.content ?? '';
        const labels = [...user.matchAll(/<document id="(c\d+)"/g)].map((m) => m[1]);
        return `Refunds take 30 days ${labels.map((l) => `[${String(l)}]`).join('')}.`;
      };
    });
    afterAll(async () => {
      await app?.close();
      await t?.close();
      await chat?.close();
      await raw?.close();
      await agentUp?.close();
    });

    it('records an ask: PII never reaches the redacting provider, a disallowed class is never sent, usage counts the redactions', async () => {
      const before = await app.metrics.registry.metrics();
      const { id } = await ask(PII_QUESTION);
      const sent = chat.chatRequests.at(-1)?.messages ?? [];
      const text = JSON.stringify(sent);
      expect(text).not.toContain('jane.doe@example.com');
      expect(text).not.toContain('4111 1111 1111 1111');
      expect(text).not.toContain('555 0100');
      expect(text).toContain('[EMAIL]');
      expect(text).toContain('[CARD]');
      expect(text).toContain('[PHONE]');
      // The hr chunk matched the question but was never put in the prompt.
      expect(text).toContain('within 30 days');
      expect(text).not.toContain('Salary');
      expect(text).not.toContain('900000');

      const r = await record(id);
      expect(r.kind).toBe('ask');
      expect(r.question).toBe(PII_QUESTION);
      expect(r.modelAlias).toBe('answer');
      expect(r.provider).toBe('ext');
      expect(r.model).toBe('gpt-4o-mini');
      expect(r.redactions).toBe(3);
      expect(r.promptTemplate).toBe('knowledge.ask.grounded');
      expect(r.promptVersion).toMatch(/^[0-9a-f]{12}$/);
      expect(JSON.stringify(r.promptRendered)).toContain('within 30 days');
      expect(new Set(r.chunks.map((c) => c.documentId))).toEqual(
        new Set([docs.refunds, docs.shipping]),
      );
      expect(r.chunks.every((c) => c.cited && c.status === 'unchanged')).toBe(true);
      expect(r.flagged).toEqual([]);
      expect(r.citations.map((c) => c.chunkId).sort()).toEqual(
        r.chunks.map((c) => c.chunkId).sort(),
      );
      expect(r.timings.totalMs).toBeGreaterThan(0);

      await app.gateway.usage.flush();
      const rows = await t.asOwner((q) =>
        q.query<{ redactions: number; endpoint: string }>(
          `SELECT redactions, endpoint FROM usage_events WHERE request_id = $1 AND endpoint = 'chat'`,
          [id],
        ),
      );
      expect(rows.rows.map((x) => Number(x.redactions))).toEqual([3]);
      const after = await app.metrics.registry.metrics();
      for (const kind of ['email', 'card', 'phone'])
        expect(
          sample(after, 'rampart_gateway_pii_redactions_total', { kind }) -
            sample(before, 'rampart_gateway_pii_redactions_total', { kind }),
        ).toBe(1);
    });

    it('flags a cited chunk changed after the answer, and one deleted', async () => {
      const { id } = await ask('How do refunds work?');
      const r = await record(id);
      const refund = r.chunks.find((c) => c.documentId === docs.refunds);
      const shipping = r.chunks.find((c) => c.documentId === docs.shipping);
      expect(refund?.cited && shipping?.cited).toBe(true);
      // The chunk's content changes under the record (an edit in place).
      await t.asOwner((q) =>
        q.query(
          `UPDATE chunks SET text = text || ' Except on Sundays.', content_hash = 'edited' WHERE id = $1`,
          [refund?.chunkId],
        ),
      );
      await ok('DELETE', `/v1/documents/${docs.shipping}`, owner);
      const again = await record(id);
      expect(again.flagged).toEqual(
        expect.arrayContaining([
          { chunkId: refund?.chunkId, documentId: docs.refunds, status: 'changed' },
          { chunkId: shipping?.chunkId, documentId: docs.shipping, status: 'deleted' },
        ]),
      );
      expect(again.flagged).toHaveLength(2);
      expect(again.chunks.find((c) => c.chunkId === refund?.chunkId)?.status).toBe('changed');
    });

    it('needs audit:read, and a tenant never reads another tenant’s record', async () => {
      const { id } = await ask('How long do refunds take?');
      const denied = await call('GET', `/v1/requests/${id}`, member);
      expect(denied.statusCode).toBe(403);
      const foreign = await call('GET', `/v1/requests/${id}`, otherOwner);
      expect(foreign.statusCode).toBe(404);
      const missing = await call('GET', '/v1/requests/no-such-request', owner);
      expect(missing.statusCode).toBe(404);
    });

    it('keeps the template but not the rendered prompt when the tenant opts out', async () => {
      await ok('PUT', '/v1/governance/data-policy', owner, { storeRenderedPrompts: false });
      try {
        const { id } = await ask('How do refunds work?');
        const r = await record(id);
        expect(r.promptRendered).toBeNull();
        expect(r.promptTemplate).toBe('knowledge.ask.grounded');
        expect(r.answer).toMatch(/Refunds take 30 days/);
      } finally {
        await ok('PUT', '/v1/governance/data-policy', owner, { storeRenderedPrompts: true });
      }
    });

    it('a tenant can require redaction for every provider not self-hosted, streaming included', async () => {
      const tenant = await app.createTenant();
      const k = tenant.ownerKey;
      await ok('POST', '/v1/providers', k, {
        name: 'cloud',
        type: 'openai',
        baseUrl: raw.baseUrl,
        apiKey: 'sk-fake',
      });
      await ok('POST', '/v1/providers', k, {
        name: 'onprem',
        type: 'openai',
        baseUrl: raw.baseUrl,
        apiKey: 'sk-fake',
        selfHosted: true,
      });
      await ok('POST', '/v1/routes', k, {
        alias: 'cloud',
        targets: [{ provider: 'cloud', model: 'gpt-4o-mini', weight: 1 }],
      });
      await ok('POST', '/v1/routes', k, {
        alias: 'onprem',
        targets: [{ provider: 'onprem', model: 'gpt-4o-mini', weight: 1 }],
      });
      const send = async (alias: string, stream: boolean) => {
        const r = await call('POST', '/v1/chat/completions', k, {
          model: alias,
          stream,
          messages: [
            {
              role: 'user',
              content: `Mail jane.doe@example.com, SSN 123-45-6789, IBAN GB82 WEST 1234 5698 7654 32.`,
            },
          ],
        });
        expect(r.statusCode, r.body).toBe(200);
        return JSON.stringify(raw.requests.at(-1)?.body.messages);
      };
      // No policy yet: the text goes as it is.
      expect(await send('cloud', true)).toContain('jane.doe@example.com');
      const policy = await ok<{ requirePiiRedaction: boolean }>(
        'PUT',
        '/v1/governance/data-policy',
        k,
        {
          requirePiiRedaction: true,
        },
      );
      expect(policy.requirePiiRedaction).toBe(true);
      for (const stream of [true, false]) {
        const got = await send('cloud', stream);
        expect(got).not.toContain('jane.doe@example.com');
        expect(got).not.toContain('123-45-6789');
        expect(got).not.toContain('GB82 WEST');
        expect(got).toContain('[EMAIL]');
        expect(got).toContain('[SSN]');
        expect(got).toContain('[IBAN]');
      }
      // A self-hosted provider is exempt from the tenant-wide requirement.
      expect(await send('onprem', true)).toContain('jane.doe@example.com');
      await app.gateway.usage.flush();
      const rows = await t.asOwner((q) =>
        q.query<{ provider: string; redactions: number; stream: boolean }>(
          `SELECT provider, redactions, stream FROM usage_events WHERE tenant_id = $1 ORDER BY created_at`,
          [tenant.id],
        ),
      );
      expect(rows.rows.map((r) => [r.provider, Number(r.redactions), r.stream])).toEqual([
        ['cloud', 0, true],
        ['cloud', 3, true],
        ['cloud', 3, false],
        ['onprem', 0, true],
      ]);
      const providers = await ok<{
        data: { name: string; selfHosted: boolean; dataPolicy: unknown }[];
      }>('GET', '/v1/providers', k);
      expect(providers.data.find((p) => p.name === 'onprem')?.selfHosted).toBe(true);
    });

    it('a fallback provider must allow a class too: the route allows only what every provider allows', async () => {
      const tenant = await app.createTenant();
      const k = tenant.ownerKey;
      for (const [name, classes] of [
        ['first', ['public', 'hr']],
        ['backup', ['public']],
      ] as const)
        await ok('POST', '/v1/providers', k, {
          name,
          type: 'openai',
          baseUrl: chat.baseUrl,
          apiKey: 'sk-fake',
          dataPolicy: { allowDataClasses: classes },
        });
      await ok('POST', '/v1/routes', k, {
        alias: 'answer',
        targets: [{ provider: 'first', model: 'gpt-4o-mini', weight: 1 }],
        fallbacks: [{ provider: 'backup', model: 'gpt-4o-mini' }],
      });
      await ok('PUT', '/v1/knowledge/settings', k, { answerAlias: 'answer' });
      const up = await call('POST', '/v1/documents', k, {
        title: 'Salary bands',
        text: 'Refund of salary advances: the CEO earns 900000 per year.',
        tags: ['class:hr'],
      });
      expect(up.statusCode).toBe(202);
      await createWorker(t.db, app.config, undefined, app.gateway.calls).drain();
      const r = await call('POST', '/v1/ask', k, {
        question: 'How do salary advance refunds work?',
      });
      expect(r.statusCode).toBe(200);
      // Nothing allowed matched: no chunk went to any provider.
      const rec = await record(String(r.headers['x-request-id']), k);
      expect(rec.chunks).toEqual([]);
      expect(JSON.stringify(chat.chatRequests.at(-1))).not.toContain('900000');
    });

    it('records a SQL answer: question, prompt, model, the query and its result shape', async () => {
      await ok('POST', '/v1/sql/sources', owner, { name: 'demo', type: 'sample' });
      await ok('POST', '/v1/routes', owner, {
        alias: 'default',
        targets: [{ provider: 'ext', model: 'gpt-4o-mini', weight: 1 }],
      });
      const previous = chat.chatReply;
      chat.chatReply = () =>
        "```sql\nSELECT count(*) FROM restaurant WHERE food_type = 'Italian'\n```\nCounts Italian places.";
      try {
        const r = await call('POST', '/v1/sql/ask', owner, {
          source: 'demo',
          question: 'How many Italian restaurants are there? Reply to jane.doe@example.com',
        });
        expect(r.statusCode, r.body).toBe(200);
        expect(JSON.stringify(chat.chatRequests.at(-1))).not.toContain('jane.doe@example.com');
        const rec = await record(String(r.headers['x-request-id']));
        expect(rec.kind).toBe('sql_ask');
        expect(rec.question).toContain('jane.doe@example.com');
        expect(rec.modelAlias).toBe('default');
        expect(rec.provider).toBe('ext');
        expect(rec.model).toBe('gpt-4o-mini');
        expect(rec.promptTemplate).toBe('sql.ask');
        expect(JSON.stringify(rec.promptRendered)).toContain('restaurant');
        expect(rec.redactions).toBe(1);
        expect(rec.chunks).toEqual([]);
        expect(rec.answer).toMatchObject({
          source: 'demo',
          executed: true,
          rowCount: 1,
          explanation: 'Counts Italian places.',
        });
        expect(JSON.stringify(rec.answer)).toContain("food_type = 'Italian'");
        expect(rec.timings.totalMs).toBeGreaterThan(0);
      } finally {
        chat.chatReply = previous;
      }
    }, 300_000);

    it('records a copilot run: the knowledge.search chunks the model read, with classes filtered', async () => {
      await ok('POST', '/v1/providers', owner, {
        name: 'agentprov',
        type: 'openai',
        baseUrl: agentUp.baseUrl,
        apiKey: 'sk-fake',
        dataPolicy: { redactPii: true, allowDataClasses: ['public'] },
      });
      await ok('POST', '/v1/routes', owner, {
        alias: 'agent',
        targets: [{ provider: 'agentprov', model: 'gpt-4o-mini', weight: 1 }],
      });
      const agent = await ok<{ id: string }>('POST', '/v1/agents', owner, {
        name: 'helper',
        instructions: 'You answer from the knowledge base.',
        model: 'agent',
        tools: [{ name: 'knowledge.search', policy: 'always' }],
      });
      agentUp.requests.length = 0;
      agentUp.script = (_req, n) =>
        n === 1
          ? {
              toolCalls: [
                { name: 'knowledge_search', arguments: { query: 'refund salary advances' } },
              ],
            }
          : { content: 'Refunds within 30 days.' };
      const run = await ok<{ id: string }>('POST', `/v1/agents/${agent.id}/runs`, owner, {
        input: 'Mail me at jane.doe@example.com: how do refunds and salary advances work?',
      });
      await copilotWorker(app, t.db).drain();
      const sent = JSON.stringify(agentUp.requests);
      expect(sent).not.toContain('jane.doe@example.com');
      expect(sent).not.toContain('900000');
      const results = toolResults(agentUp.requests.at(-1) as (typeof agentUp.requests)[number]);
      expect(JSON.stringify(results)).toContain('within 30 days');

      const r = await record(`run:${run.id}`);
      expect(r.kind).toBe('copilot_run');
      expect(r.question).toContain('salary advances');
      expect(r.modelAlias).toBe('agent');
      expect(r.provider).toBe('agentprov');
      expect(r.answer).toBe('Refunds within 30 days.');
      expect(r.redactions).toBeGreaterThan(0);
      expect(r.promptTemplate).toBe(`agent:${agent.id}`);
      expect(r.chunks.map((c) => c.documentId)).toContain(docs.refunds);
      expect(r.chunks.map((c) => c.documentId)).not.toContain(docs.salaries);
      expect(r.promptTokens).toBeGreaterThan(0);
      expect(r.flagged).toEqual(
        r.chunks
          .filter((c) => c.status !== 'unchanged')
          .map((c) => ({ chunkId: c.chunkId, documentId: c.documentId, status: c.status })),
      );
    });
  },
);
