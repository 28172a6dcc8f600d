/**
 * The copilot's built-in SQL tools: an agent run calls `sql.query` and `sql.ask` as its caller,
 * through the text-to-SQL service (validation, read-only session, audit), and a caller without
 * `sql:query` is refused the call. The source database lives on the test PostgreSQL server, so
 * the suite needs TEST_DATABASE_URL (Rampart's own database is either driver).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { COPILOT_MASTER_KEY, copilotTenant, copilotWorker } from './helpers/copilot.js';
import { auditOf } from './helpers/identity-api.js';
import { loadPgSources, TEST_PG_URL, type PgSources } from './helpers/sql-sources.js';
import { startAgentUpstream, toolResults, type AgentUpstream } from './fakes/fake-openai-agent.js';
import type { JobQueue } from '../src/platform/queue/queue.js';

interface Run {
  id: string;
  status: string;
  output: unknown;
}
interface Ev {
  type: string;
  data: Record<string, unknown>;
}

const suite = TEST_PG_URL ? describe : describe.skip;

suite('copilot SQL tools', () => {
  let sources: PgSources;
  beforeAll(async () => {
    sources = await loadPgSources(TEST_PG_URL ?? '', ['academic']);
  }, 120_000);
  afterAll(async () => sources?.drop());

  describe.each(testDrivers())('on %s', (driver) => {
    let t: TestDatabase;
    let app: TestApp;
    let upstream: AgentUpstream;
    let worker: JobQueue;

    beforeAll(async () => {
      t = await createTestDatabase(driver);
      app = await createTestApp(t.db, { RAMPART_MASTER_KEY: COPILOT_MASTER_KEY });
      upstream = await startAgentUpstream();
      worker = copilotWorker(app, t.db);
    });
    afterAll(async () => {
      await app?.close();
      await upstream?.close();
      await t?.close();
    });

    async function setup(tool: string, policy: 'always' | 'ask') {
      const c = await copilotTenant(app, upstream);
      await c.ok('POST', '/v1/sql/sources', c.owner, {
        name: 'academic',
        type: 'postgres',
        url: sources.readerUrl('academic'),
        schemas: ['public'],
        modelAlias: 'agent',
      });
      const agent = await c.ok<{ id: string }>('POST', '/v1/agents', c.owner, {
        name: 'analyst',
        instructions: 'You answer from the academic database.',
        model: 'agent',
        tools: [{ name: tool, policy }],
      });
      const start = (key: string) =>
        c.ok<Run>('POST', `/v1/agents/${agent.id}/runs`, key, { input: 'Who is author 2?' });
      const events = async (key: string, id: string) =>
        (await c.ok<{ data: Ev[] }>('GET', `/v1/runs/${id}/events`, key)).data;
      return { ...c, start, events };
    }

    it('GET /v1/tools lists sql.query and sql.ask with their JSON-Schema arguments', async () => {
      const c = await setup('sql.query', 'always');
      const list = await c.ok<{
        data: { name: string; permission: string; parameters: unknown }[];
      }>('GET', '/v1/tools', c.admin);
      const sql = list.data.filter((x) => x.name.startsWith('sql.'));
      expect(sql.map((x) => [x.name, x.permission])).toEqual([
        ['sql.query', 'sql:query'],
        ['sql.ask', 'sql:query'],
      ]);
      expect(sql[0]?.parameters).toMatchObject({ required: ['source', 'sql'] });
      // A tenant's HTTP action may not take a built-in name space.
      const taken = await c.call('POST', '/v1/tools', c.owner, {
        name: 'sql.drop',
        description: 'x',
        parameters: { type: 'object' },
        request: { method: 'POST', url: 'https://example.com/x' },
      });
      expect(taken.status).toBe(400);
    });

    it('a run calls sql.query as its caller: validated, read-only, audited, rows back to the model', async () => {
      const c = await setup('sql.query', 'always');
      upstream.script = (_req, n) =>
        n === 1
          ? {
              toolCalls: [
                {
                  name: 'sql_query',
                  arguments: { source: 'academic', sql: 'SELECT name FROM author WHERE aid = 2' },
                },
              ],
            }
          : n === 2
            ? {
                toolCalls: [
                  {
                    name: 'sql_query',
                    arguments: { source: 'academic', sql: 'DELETE FROM author' },
                  },
                ],
              }
            : { content: 'Ashish Vaswani.' };
      upstream.requests.length = 0;
      const run = await c.start(c.member);
      await worker.drain();
      const done = await c.ok<Run>('GET', `/v1/runs/${run.id}`, c.member);
      expect(done).toMatchObject({ status: 'succeeded', output: 'Ashish Vaswani.' });
      expect(toolResults(upstream.requests[1]!)).toEqual([
        {
          columns: [{ name: 'name', type: expect.any(String) }],
          rows: [['Ashish Vaswani']],
          rowCount: 1,
          truncated: false,
        },
      ]);
      // A write is refused by the SQL feature's validation; the model is told, the run goes on.
      const events = await c.events(c.member, run.id);
      const outcomes = events.filter(
        (e) => e.type.startsWith('tool.call.') && e.type !== 'tool.call.requested',
      );
      expect(outcomes.map((e) => e.type)).toEqual(['tool.call.succeeded', 'tool.call.failed']);
      expect(String(outcomes[1]?.data.error)).toMatch(/read|SELECT|not allowed|refus/i);
      // The query ran as the run's caller: the audit names the member's key.
      const audit = await auditOf(t, c.tenant.id, `run:${run.id}:c1_0`);
      expect(audit).toMatchObject([
        { action: 'sql.queried', outcome: 'success', actor_type: 'api_key' },
      ]);
      expect(audit[0]?.details).toMatchObject({ rowCount: 1 });
      expect((await auditOf(t, c.tenant.id, `run:${run.id}:c2_0`))[0]).toMatchObject({
        action: 'sql.refused',
        outcome: 'denied',
      });
    });

    it('a run calls sql.ask: the SQL is written through the gateway and run read-only', async () => {
      const c = await setup('sql.ask', 'always');
      upstream.script = (req) => {
        if (req.tools.length === 0)
          return { content: '```sql\nSELECT name FROM author WHERE aid = 3\n```' };
        return req.messages.some((m) => m.role === 'tool')
          ? { content: 'Noam Shazeer.' }
          : {
              toolCalls: [
                { name: 'sql_ask', arguments: { source: 'academic', question: 'Author 3?' } },
              ],
            };
      };
      const run = await c.start(c.member);
      await worker.drain();
      const events = await c.events(c.member, run.id);
      const ok = events.find((e) => e.type === 'tool.call.succeeded');
      expect(ok?.data.result).toMatchObject({
        sql: expect.stringContaining('author'),
        rows: [['Noam Shazeer']],
      });
      expect((await c.ok<Run>('GET', `/v1/runs/${run.id}`, c.member)).status).toBe('succeeded');
    });

    it('a caller without sql:query is refused the call, whatever the agent allows', async () => {
      const c = await setup('sql.query', 'ask');
      const keyId = await c.ok<{ id: string; secret: string }>('POST', '/v1/api-keys', c.owner, {
        name: 'analyst-key',
        role: 'member',
      });
      upstream.script = (req) =>
        req.messages.some((m) => m.role === 'tool')
          ? { content: 'I could not query.' }
          : {
              toolCalls: [
                { name: 'sql_query', arguments: { source: 'academic', sql: 'SELECT 1' } },
              ],
            };
      const run = await c.start(keyId.secret);
      await worker.drain();
      expect((await c.ok<Run>('GET', `/v1/runs/${run.id}`, c.owner)).status).toBe(
        'awaiting_approval',
      );
      // While it waits, the key loses sql:query (viewer); the run acts as its caller stands now.
      await c.ok('PATCH', `/v1/api-keys/${keyId.id}`, c.owner, { role: 'viewer' });
      await c.ok('POST', `/v1/runs/${run.id}/approvals/c1_0`, c.owner, { decision: 'approve' });
      await worker.drain();
      const events = await c.events(c.owner, run.id);
      expect(events.find((e) => e.type === 'tool.call.denied')?.data).toMatchObject({
        tool: 'sql.query',
        reason: 'permission',
        permission: 'sql:query',
      });
      expect(events.some((e) => e.type === 'tool.call.requested')).toBe(false);
      expect(await auditOf(t, c.tenant.id, `run:${run.id}:c1_0`)).toEqual([]);
    });
  });
});
