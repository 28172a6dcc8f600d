/**
 * /v1/sql/ask on a large schema (PostgreSQL source, TEST_DATABASE_URL): the prompt the fake
 * upstream receives carries only the tables the question is about, found by keyword and by
 * embedding over the catalogue and the admins' annotations; the embeddings are the tenant's
 * knowledge embedder, called through the gateway and metered to the tenant.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedUpstream, type ScriptedUpstream } from './fakes/fake-openai-scripted.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient, type Call } from './helpers/identity-api.js';
import { loadPgSources, TEST_PG_URL, type PgSources } from './helpers/sql-sources.js';

const UNRELATED = [
  'employees',
  'departments',
  'payroll_runs',
  'timesheets',
  'leave_requests',
  'campaigns',
  'leads',
  'support_tickets',
  'ticket_comments',
  'assets',
  'maintenance_jobs',
  'budgets',
  'expenses',
  'tax_rates',
  'currencies',
  'exchange_rates',
  'kb_articles',
  'surveys',
  'survey_answers',
  'office_locations',
  'meeting_rooms',
  'room_bookings',
  'training_courses',
  'course_enrolments',
  'job_openings',
  'job_applicants',
];

const DDL = [
  ...UNRELATED.map(
    (t) => `CREATE TABLE public.${t} (id int PRIMARY KEY, label text, created_on date);`,
  ),
  'CREATE TABLE public.carriers (id int PRIMARY KEY, carrier_name text);',
  'CREATE TABLE public.warehouses (id int PRIMARY KEY, city text);',
  `CREATE TABLE public.consignments (id int PRIMARY KEY,
     carrier_id int REFERENCES public.carriers (id), warehouse_id int REFERENCES public.warehouses (id),
     weight_kg numeric, dispatched_on date);`,
  `INSERT INTO public.carriers VALUES (1, 'Swift'), (2, 'Steady');
   INSERT INTO public.warehouses VALUES (1, 'Lyon');
   INSERT INTO public.consignments VALUES (1, 1, 1, 2.5, '2026-11-02'), (2, 1, 1, 1, '2026-11-03'),
     (3, 2, 1, 4, '2026-11-04');`,
].join('\n');

describe.skipIf(!TEST_PG_URL)('/v1/sql/ask schema linking on a large schema', () => {
  let sources: PgSources;
  let fake: ScriptedUpstream;
  beforeAll(async () => {
    fake = await startScriptedUpstream();
    sources = await loadPgSources(TEST_PG_URL ?? '', ['wide'], () => DDL);
  }, 120_000);
  afterAll(async () => {
    await sources?.drop();
    await fake?.close();
  });

  describe.each(testDrivers())('Rampart on %s', (driver) => {
    let t: TestDatabase;
    let app: TestApp;
    let owner: string;
    const ok = async (r: Promise<Call>, status = 200): Promise<Call> => {
      const res = await r;
      expect(res.status, res.text).toBe(status);
      return res;
    };
    beforeAll(async () => {
      t = await createTestDatabase(driver);
      app = await createTestApp(t.db, { RAMPART_MASTER_KEY: randomBytes(32).toString('base64') });
      owner = (await app.createTenant()).ownerKey;
      const call = apiClient(app);
      await ok(
        call('POST', '/v1/providers', owner, {
          name: 'main',
          type: 'openai',
          baseUrl: fake.baseUrl,
          apiKey: 'sk-fake',
        }),
        201,
      );
      for (const [alias, model] of [
        ['default', 'gpt-4o-mini'],
        ['embed', 'embed-model'],
      ] as const)
        await ok(
          call('POST', '/v1/routes', owner, { alias, targets: [{ provider: 'main', model }] }),
          201,
        );
      await ok(call('PUT', '/v1/knowledge/settings', owner, { embeddingAlias: 'embed' }));
      await ok(
        call('POST', '/v1/sql/sources', owner, {
          name: 'wide',
          type: 'postgres',
          url: sources.readerUrl('wide'),
        }),
        201,
      );
      await ok(
        call('PUT', '/v1/sql/sources/wide/annotations', owner, {
          tables: { consignments: 'One row per parcel sent out.' },
          columns: {},
          examples: [],
        }),
      );
    }, 120_000);
    afterAll(async () => {
      await app?.close();
      await t?.close();
    });

    it('prompts with only the relevant tables, embedding through the gateway', async () => {
      fake.chatReply = () =>
        '```sql\nSELECT c.carrier_name, count(*) FROM consignments s JOIN carriers c ON c.id = s.carrier_id GROUP BY 1 ORDER BY 1\n```\nParcels per carrier.';
      const chats = fake.chatRequests.length;
      const embeds = fake.embeddingRequests.length;
      const res = await ok(
        apiClient(app)('POST', '/v1/sql/ask', owner, {
          source: 'wide',
          question: 'How many parcels did each carrier send?',
        }),
      );
      expect((res.body as { rows: unknown[][] }).rows).toEqual([
        ['Steady', '1'],
        ['Swift', '2'],
      ]);
      const system = fake.chatRequests[chats]?.messages[0]?.content ?? '';
      const tables = [...system.matchAll(/^TABLE public\.(\w+)/gm)].map((m) => m[1]);
      expect(tables.sort()).toEqual(['carriers', 'consignments', 'warehouses']);
      // The schema and the question were embedded by the tenant's embedding route.
      const sent = fake.embeddingRequests.slice(embeds);
      expect(sent.map((r) => r.model)).toEqual(['embed-model']);
      expect(sent[0]?.input[0]).toBe('How many parcels did each carrier send?');
      expect(sent[0]?.input.length).toBe(UNRELATED.length + 4);
      await app.gateway.usage.flush();
      const usage = await ok(apiClient(app)('GET', '/v1/usage?groupBy=model', owner));
      const models = (usage.body as { data: { model: string; requests: number }[] }).data;
      expect(models).toEqual(
        expect.arrayContaining([expect.objectContaining({ model: 'embed-model', requests: 1 })]),
      );
    });
  });
});
