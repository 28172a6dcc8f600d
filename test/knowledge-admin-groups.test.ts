import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker } from '../src/knowledge/worker.js';
import type { JobQueue } from '../src/platform/queue/queue.js';
import { bearer, createTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, testDrivers, type TestDatabase } from './helpers/db.js';

// Regression: an administrator filing a document under a group it is not in used to fail with
// a 500, because ON CONFLICT applied the SELECT policy to the new row.
describe.each(testDrivers())(
  'documents filed under a group the uploader is not in (%s)',
  (driver) => {
    let t: TestDatabase;
    let app: TestApp;
    let worker: JobQueue;
    let tenant: { id: string; ownerKey: string };
    let legalKey: string;

    beforeAll(async () => {
      t = await createTestDatabase(driver);
      app = await createTestApp(t.db, { QUEUE_RETRY_BASE_MS: '0', QUEUE_MAX_ATTEMPTS: '1' });
      worker = createWorker(t.db, app.config);
      tenant = await app.createTenant();
      const res = await app.app.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: bearer(tenant.ownerKey),
        payload: { name: 'legal reader', role: 'viewer', groups: ['legal'] },
      });
      legalKey = (res.json() as { secret: string }).secret;
    });
    afterAll(async () => {
      await app?.close();
      await t?.close();
    });

    const upload = (key: string) =>
      app.app.inject({
        method: 'POST',
        url: '/v1/documents',
        headers: bearer(key),
        payload: {
          title: 'Settlement memo',
          text: 'The settlement amount is confidential.',
          groups: ['legal'],
        },
      });

    it('accepts it, hides it from the uploader, ingests it for the group, and detects a re-upload', async () => {
      const first = await upload(tenant.ownerKey);
      expect(first.statusCode).toBe(202);
      const { id } = first.json() as { id: string };
      await worker.drain();
      const asOwner = await app.app.inject({
        method: 'GET',
        url: `/v1/documents/${id}`,
        headers: bearer(tenant.ownerKey),
      });
      expect(asOwner.statusCode).toBe(404);
      const asLegal = await app.app.inject({
        method: 'GET',
        url: `/v1/documents/${id}`,
        headers: bearer(legalKey),
      });
      expect(asLegal.statusCode).toBe(200);
      expect(asLegal.json()).toMatchObject({ id, status: 'ready', groups: ['legal'] });
      // The uploader cannot see the existing copy, so the duplicate is a conflict, not a leak of its id.
      const again = await upload(tenant.ownerKey);
      expect(again.statusCode).toBe(409);
      expect(JSON.stringify(again.json())).not.toContain(id);
      // Reading is not writing: a viewer in the group still may not upload.
      const byMember = await app.app.inject({
        method: 'POST',
        url: '/v1/documents',
        headers: bearer(legalKey),
        payload: { title: 'x', text: 'The settlement amount is confidential.', groups: ['legal'] },
      });
      expect(byMember.statusCode).toBe(403);
      const { rows } = await t.asOwner((q) =>
        q.query<{ n: number }>('SELECT count(*)::int AS n FROM documents WHERE tenant_id = $1', [
          tenant.id,
        ]),
      );
      expect(rows[0]?.n).toBe(1);
    });
  },
);
