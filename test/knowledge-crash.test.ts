import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bearer, createTestApp, SERVER_SECRET, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { spawnRampart, type RampartProcess } from './helpers/serve-process.js';

// Worker processes share the database over the network, so this runs on PostgreSQL only (the
// embedded database is one in-process connection; with it, `serve` runs the worker itself).
describe.skipIf(!process.env.TEST_DATABASE_URL)(
  'ingestion survives a killed worker (postgres)',
  () => {
    let t: TestDatabase;
    let app: TestApp;
    const workers: RampartProcess[] = [];

    const startWorker = (env: Record<string, string> = {}): RampartProcess => {
      const settings = t.settings as { DATABASE_URL: string };
      const p = spawnRampart(['worker'], {
        DATABASE_URL: settings.DATABASE_URL,
        RAMPART_SECRET_KEY: SERVER_SECRET,
        QUEUE_LEASE_MS: '3000',
        QUEUE_POLL_INTERVAL_MS: '100',
        LOG_LEVEL: 'warn',
        ...env,
      });
      workers.push(p);
      return p;
    };
    const state = async (id: string) =>
      (
        await t.asOwner((q) =>
          q.query<{ status: string; chunk_count: number; attempts: number; job: string }>(
            `SELECT d.status, d.chunk_count, j.attempts, j.state AS job
             FROM documents d JOIN jobs j ON j.payload->>'documentId' = d.id::text WHERE d.id = $1`,
            [id],
          ),
        )
      ).rows[0];

    /** A port nothing listens on right now, for the worker's metrics endpoint. */
    const freePort = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const srv = createServer();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => {
          const { port } = srv.address() as { port: number };
          srv.close(() => resolve(port));
        });
      });

    beforeAll(async () => {
      t = await createTestDatabase('postgres');
      app = await createTestApp(t.db);
    });
    afterAll(async () => {
      for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
      await app?.close();
      await t?.close();
    });

    it('SIGKILL in the middle of a large document: after restart it ends ready with exactly one set of chunks', async () => {
      const tenant = await app.createTenant();
      const sections = Array.from(
        { length: 400 },
        (_, s) =>
          `## Section ${s}\n\n` +
          Array.from(
            { length: 12 },
            (_, p) =>
              `Paragraph ${p} of section ${s} describes clause ${s * 100 + p} of the agreement in plain words. ` +
              `It repeats the obligations of party ${p % 5} and the remedies available under article ${s}.`,
          ).join('\n\n'),
      ).join('\n\n');
      const res = await app.app.inject({
        method: 'POST',
        url: '/v1/documents',
        headers: bearer(tenant.ownerKey),
        payload: { title: 'Large agreement', markdown: `# Agreement\n\n${sections}` },
      });
      expect(res.statusCode).toBe(202);
      const { id } = res.json() as { id: string };

      const first = startWorker();
      await vi.waitFor(async () => expect((await state(id))?.status).toBe('processing'), {
        timeout: 60_000,
        interval: 20,
      });
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      // Killed mid-ingestion: nothing half-written is visible.
      expect(await state(id)).toMatchObject({
        status: 'processing',
        chunk_count: 0,
        attempts: 1,
        job: 'running',
      });
      const partial = await t.asOwner((q) =>
        q.query<{ n: number }>(`SELECT count(*)::int AS n FROM chunks WHERE document_id = $1`, [
          id,
        ]),
      );
      expect(partial.rows[0]?.n).toBe(0);

      const port = await freePort();
      const second = startWorker({ WORKER_METRICS_PORT: String(port), HOST: '127.0.0.1' });
      await vi.waitFor(async () => expect((await state(id))?.status).toBe('ready'), {
        timeout: 90_000,
        interval: 100,
      });
      // The worker process serves its own counters: the chunks it indexed on this attempt.
      const scraped = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const indexed = /^rampart_knowledge_chunks_indexed_total (\d+)$/m.exec(scraped)?.[1];
      expect(Number(indexed)).toBe((await state(id))?.chunk_count);
      second.child.kill('SIGTERM');
      await second.exited;

      const final = await state(id);
      expect(final).toMatchObject({ status: 'ready', attempts: 2, job: 'completed' });
      const chunks = await t.asOwner((q) =>
        q.query<{ n: number; distinct_ordinals: number; max_ordinal: number }>(
          `SELECT count(*)::int AS n, count(DISTINCT ordinal)::int AS distinct_ordinals, max(ordinal) AS max_ordinal
           FROM chunks WHERE document_id = $1`,
          [id],
        ),
      );
      const c = chunks.rows[0];
      expect(final?.chunk_count).toBeGreaterThan(100);
      expect(c).toEqual({
        n: final?.chunk_count,
        distinct_ordinals: final?.chunk_count,
        max_ordinal: (final?.chunk_count ?? 0) - 1,
      });
    }, 180_000);
  },
);
