/**
 * Text-to-SQL metrics and spans: queries counted by outcome and refusal code, duration and
 * rows observed; spans for validate, link, generate and execute.
 */
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedUpstream, type ScriptedUpstream } from './fakes/fake-openai-scripted.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';
import { apiClient } from './helpers/identity-api.js';

// Spans land in memory (vitest isolates each test file, so no other test sees this provider).
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

describe.each(testDrivers())('text-to-SQL metrics and spans (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let fake: ScriptedUpstream;
  let owner: string;

  beforeAll(async () => {
    fake = await startScriptedUpstream();
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, { RAMPART_MASTER_KEY: randomBytes(32).toString('base64') });
    owner = (await app.createTenant()).ownerKey;
    const call = apiClient(app);
    for (const [url, body] of [
      ['/v1/sql/sources', { name: 'demo', type: 'sample' }],
      ['/v1/providers', { name: 'main', type: 'openai', baseUrl: fake.baseUrl, apiKey: 'sk-x' }],
      ['/v1/routes', { alias: 'default', targets: [{ provider: 'main', model: 'gpt-4o-mini' }] }],
    ] as const) {
      const res = await call('POST', url, owner, body);
      expect(res.status, res.text).toBe(201);
    }
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await t?.close();
    await fake?.close();
  });

  it('counts queries by outcome and code, and traces each step', async () => {
    const call = apiClient(app);
    exporter.reset();
    const ok = await call('POST', '/v1/sql/query', owner, {
      source: 'demo',
      sql: 'SELECT id FROM restaurant ORDER BY id LIMIT 4',
    });
    expect(ok.status, ok.text).toBe(200);
    const refused = await call('POST', '/v1/sql/query', owner, {
      source: 'demo',
      sql: 'SELECT pg_sleep(1)',
    });
    expect(refused.status).toBe(422);
    fake.chatReply = () => '```sql\nSELECT count(*) FROM restaurant\n```\nCounts them.';
    const asked = await call('POST', '/v1/sql/ask', owner, {
      source: 'demo',
      question: 'How many restaurants?',
    });
    expect(asked.status, asked.text).toBe(200);

    const text = await app.metrics.registry.metrics();
    expect(text).toMatch(/rampart_sql_queries_total\{outcome="ok",code=""\} 2/);
    expect(text).toMatch(
      /rampart_sql_queries_total\{outcome="refused",code="sql_function_not_allowed"\} 1/,
    );
    expect(text).toMatch(/rampart_sql_query_duration_seconds_count\{outcome="ok"\} 2/);
    expect(text).toMatch(/rampart_sql_query_rows_sum 5/);

    const names = exporter.getFinishedSpans().map((s) => s.name);
    expect(names.filter((n) => n.startsWith('sql.'))).toEqual([
      'sql.validate',
      'sql.execute',
      'sql.validate',
      'sql.link',
      'sql.generate',
      'sql.validate',
      'sql.execute',
    ]);
    const failed = exporter.getFinishedSpans().filter((s) => s.name === 'sql.validate')[1];
    expect(failed?.status.code).toBe(2);
  });
});
