import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../src/jobs.js';
import { enqueueJob } from '../src/platform/queue/queue.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

/** The value of one sample line of a Prometheus text exposition, or undefined if absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

// 240 short paragraphs: with 32-token chunks and no overlap, past the 200 changed chunks after
// which the embedded worker first refreshes planner statistics.
const LONG_TEXT = Array.from(
  { length: 240 },
  (_, i) =>
    `Paragraph ${i} describes warehouse shelf ${i} holding crates of copper wire and brass fittings for the northern depot.`,
).join('\n\n');

describe.each(testDrivers())('knowledge hub metrics (%s)', (driver) => {
  let t: TestDatabase;
  let app: TestApp;
  let worker: ReturnType<typeof createWorker>;
  let tenant: { id: string; ownerKey: string };
  const scrape = async (): Promise<string> =>
    (await app.app.inject({ method: 'GET', url: '/metrics' })).body;
  const upload = (payload: Record<string, unknown>) =>
    app.app.inject({
      method: 'POST',
      url: '/v1/documents',
      headers: bearer(tenant.ownerKey),
      payload,
    });

  beforeAll(async () => {
    t = await createTestDatabase(driver);
    app = await createTestApp(t.db, {
      QUEUE_RETRY_BASE_MS: '0',
      QUEUE_MAX_ATTEMPTS: '2',
      CHUNK_MAX_TOKENS: '32',
      CHUNK_OVERLAP_TOKENS: '0',
    });
    // The worker records into the app's registry, as an embedded `serve` wires it.
    worker = createWorker(t.db, app.config, undefined, undefined, app.metrics.registry);
    tenant = await app.createTenant();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('shows documents by status, chunks indexed and queue depth after an ingestion', async () => {
    const before = await scrape();
    expect(sample(before, 'rampart_documents{status="ready"}')).toBe(0);
    expect(sample(before, 'rampart_knowledge_chunks_indexed_total')).toBe(0);

    const ok = await upload({ title: 'Depot inventory', text: LONG_TEXT });
    const bad = await upload({ title: 'Nothing', text: '' });
    expect([ok.statusCode, bad.statusCode]).toEqual([202, 202]);
    const queued = await scrape();
    expect(sample(queued, 'rampart_documents{status="queued"}')).toBe(2);
    expect(sample(queued, 'rampart_jobs{kind="knowledge.ingest",state="queued"}')).toBe(2);

    await worker.drain();
    const after = await scrape();
    const { rows } = await t.asOwner((q) =>
      q.query<{ n: number }>(`SELECT count(*)::int AS n FROM chunks`),
    );
    const chunks = rows[0]?.n ?? 0;
    expect(chunks).toBeGreaterThan(200);
    expect(sample(after, 'rampart_knowledge_chunks_indexed_total')).toBe(chunks);
    expect(sample(after, 'rampart_documents{status="ready"}')).toBe(1);
    expect(sample(after, 'rampart_documents{status="failed"}')).toBe(1);
    expect(sample(after, 'rampart_documents{status="queued"}')).toBe(0);
    expect(sample(after, 'rampart_jobs{kind="knowledge.ingest",state="queued"}')).toBeUndefined();
  });

  it('counts failed job attempts by kind: a retry, then the dead one', async () => {
    worker.register('test.always_fails', {
      run: () => Promise.reject(new Error('upstream unavailable')),
    });
    await t.db.withTenant({ tenantId: tenant.id, groups: [] }, (tx) =>
      enqueueJob(tx, { kind: 'test.always_fails', payload: {}, maxAttempts: 2 }),
    );
    // QUEUE_RETRY_BASE_MS=0: the retry is due at once, so one drain runs both attempts.
    const outcomes = await worker.drain();
    expect(outcomes.map((o) => o.state)).toEqual(['queued', 'dead']);
    const text = await scrape();
    expect(
      sample(text, 'rampart_job_failures_total{kind="test.always_fails",outcome="retry"}'),
    ).toBe(1);
    expect(
      sample(text, 'rampart_job_failures_total{kind="test.always_fails",outcome="dead"}'),
    ).toBe(1);
    expect(sample(text, 'rampart_jobs{kind="test.always_fails",state="dead"}')).toBe(1);
  });

  it('records search latency by mode', async () => {
    for (const mode of ['keyword', 'keyword', 'hybrid', 'vector']) {
      const res = await app.app.inject({
        method: 'POST',
        url: '/v1/search',
        headers: bearer(tenant.ownerKey),
        payload: { query: 'copper wire crates', mode, k: 3 },
      });
      expect(res.statusCode).toBe(200);
      expect((res.json() as { data: unknown[] }).data).toHaveLength(3);
    }
    const text = await scrape();
    const count = (mode: string) =>
      sample(text, `rampart_knowledge_search_duration_seconds_count{mode="${mode}"}`);
    expect([count('keyword'), count('hybrid'), count('vector')]).toEqual([2, 1, 1]);
    expect(
      sample(text, 'rampart_knowledge_search_duration_seconds_bucket{le="+Inf",mode="keyword"}'),
    ).toBe(2);
    expect(
      sample(text, 'rampart_knowledge_search_duration_seconds_sum{mode="keyword"}'),
    ).toBeGreaterThan(0);
  });

  it.runIf(driver === 'pglite')(
    'refreshes planner statistics after ingestion on the embedded database (no autovacuum)',
    async () => {
      // The first test ingested more than 200 chunks; the worker analyzed the knowledge tables.
      const { rows } = await t.asOwner((q) =>
        q.query<{ relname: string; reltuples: number; analyzed: boolean }>(
          `SELECT c.relname, c.reltuples::float8 AS reltuples,
                  EXISTS (SELECT 1 FROM pg_stats s WHERE s.tablename = c.relname) AS analyzed
             FROM pg_class c WHERE c.relname IN ('chunks', 'chunk_terms') ORDER BY 1`,
        ),
      );
      const { rows: counts } = await t.asOwner((q) =>
        q.query<{ n: number }>(`SELECT count(*)::int AS n FROM chunks`),
      );
      expect(rows.map((r) => [r.relname, r.analyzed])).toEqual([
        ['chunk_terms', true],
        ['chunks', true],
      ]);
      // Analyzed after the ingestion that wrote them, so the planner knows the table is not empty.
      expect(rows.find((r) => r.relname === 'chunks')?.reltuples).toBe(counts[0]?.n);
    },
  );
});
